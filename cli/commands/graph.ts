import type { Command } from 'commander';
import { graphEdges, type TaskGraph, type TaskStatus } from '../../client/index.js';
import type { Run } from '../context.js';

/** Fill colours of task states in the drawing; the state is in each label too. */
const FILL: Record<TaskStatus, string> = {
  PENDING: '#eeeeee',
  QUEUED: '#dde7f3',
  RUNNING: '#bcd7f5',
  SUCCEEDED: '#c9ecd2',
  FAILED: '#f6c6c4',
  SKIPPED: '#e6e0d0',
  CANCELLED: '#e6e0d0',
};

const escape = (value: string) => value.replaceAll('\\', '\\\\').replaceAll('"', '\\"');
const quote = (value: string) => `"${escape(value)}"`;

/** The graph in Graphviz's DOT language: each task labelled and filled by its state. */
export function toDot(name: string, graph: TaskGraph, states: ReadonlyMap<string, TaskStatus>): string {
  const lines = [
    `digraph ${quote(name)} {`,
    '  rankdir=LR;',
    '  node [shape=box, style="rounded,filled", fontname="sans-serif"];',
  ];
  for (const task of graph.tasks) {
    const state = states.get(task.id) ?? 'PENDING';
    lines.push(
      `  ${quote(task.id)} [label="${escape(task.id)}\\n${state.toLowerCase()}", fillcolor=${quote(FILL[state])}];`,
    );
  }
  for (const [from, to] of graphEdges(graph)) lines.push(`  ${quote(from)} -> ${quote(to)};`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** `cloudjobs graph <id>`: the task graph, for Graphviz (or as JSON). */
export function graphCommand(program: Command, run: Run): void {
  const graph = program
    .command('graph')
    .description("a job's task graph in Graphviz DOT, each task coloured by its state")
    .argument('<id>')
    .addHelpText('after', '\nExample:\n  cloudjobs graph <id> | dot -Tsvg > graph.svg');
  run(graph, async (context, id) => {
    const [job, plan] = await Promise.all([context.client.jobs.get(id), context.client.jobs.graph(id)]);
    const states = new Map<string, TaskStatus>();
    if (plan.planned)
      for await (const task of context.client.jobs.allTasks(id)) states.set(task.id, task.status);
    context.print(plan, () =>
      plan.planned ? toDot(job.name, plan, states).trimEnd() : `job ${id} is not planned yet (${job.status})`,
    );
  });
}

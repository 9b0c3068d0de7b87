import { ValidationError } from '../errors.js';
import type { ExpandedJob, ExpandedTask } from '../domain/expand.js';
import type { JobSpec } from '../domain/jobSpec.js';
import type { TaskStatus } from '../domain/lifecycle.js';
import { pendingOrQueued, tasksToSkip } from '../domain/taskState.js';
import { jobLayout } from '../domain/jobLayout.js';
import type { BlobContainer } from '../store/blobStore.js';
import type { JobStore } from '../store/jobStore.js';
import { expandSpec } from './expansion.js';
import { graphTask, type JobRunner, type StoredGraph } from './jobRunner.js';
import { NO_SECRETS, type Secrets } from './secrets.js';

/**
 * Tasks added to an open job (one submitted with `completeWhenTasksFinish: false`), after it was
 * submitted: checked as part of the whole job, then recorded, put in its graph and planned for
 * Batch, for its orchestration to submit. The cfa-cloudops model: make the job, then add tasks.
 */
export class TaskAdditions {
  constructor(
    private readonly o: {
      store: JobStore;
      runner: Pick<JobRunner, 'expansion' | 'inputProblems' | 'planAddedTasks' | 'readGraph'>;
      /** The jobs container, where each job's graph is kept. */
      jobs: BlobContainer;
      /** Checks that the secrets new tasks name are the owner's. */
      secrets?: Pick<Secrets, 'check'>;
      now?: () => Date;
    },
  ) {}

  /**
   * Checks tasks being added: `spec` is the job's with the `count` new ones at its end. The whole
   * job is expanded again, so ids must be unique across it and dependencies must name tasks in
   * it; the new tasks' blob inputs must exist and be the owner's. Problems are named at the paths
   * the request has them.
   */
  async check(jobId: string, owner: string, spec: JobSpec, count: number): Promise<void> {
    const { job, added } = await this.#expand(jobId, owner, spec, count);
    const named = new Set(added.flatMap((task) => Object.values(task.secretEnv ?? {})));
    const earlier = (spec.tasks?.length ?? 0) - count;
    await (this.o.secrets ?? NO_SECRETS).check(
      owner,
      (job.secrets ?? [])
        .filter(({ name }) => named.has(name))
        .map(({ name, path }) => ({ name, path: requestPath(path, earlier) })),
    );
    const problems = await this.o.runner.inputProblems(jobId, owner, { ...job, inputs: [], tasks: added });
    if (problems.length > 0) {
      throw new ValidationError(
        `${problems.length} input(s) are not usable`,
        problems.map((message) => ({ path: 'tasks', message })),
        'INVALID_INPUT',
      );
    }
  }

  /** The job with `count` tasks added at the end of its spec, expanded, and those tasks. */
  async #expand(
    jobId: string,
    owner: string,
    spec: JobSpec,
    count: number,
  ): Promise<{ job: ExpandedJob; added: ExpandedTask[] }> {
    const earlier = (spec.tasks?.length ?? 0) - count;
    let job: ExpandedJob;
    try {
      job = await expandSpec(this.o.runner.expansion, spec, jobId, owner);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      throw new ValidationError(
        error.message,
        error.issues.map((issue) => ({ ...issue, path: requestPath(issue.path, earlier) })),
        error.code,
      );
    }
    const ids = new Set(spec.tasks!.slice(earlier).map((task, i) => task.id ?? String(earlier + i + 1)));
    return { job, added: job.tasks.filter((task) => ids.has(task.id)) };
  }

  /**
   * Records the tasks of addition `set` (at positions `first`..), puts them in the job's graph,
   * settles at once any a failed task keeps from running, and writes their Batch plan; answers
   * how many chunks it has. Safe to repeat, so a request cut short finishes when retried.
   */
  async stage(jobId: string, added: { set: number; first: number; count: number }): Promise<number> {
    const record = await this.o.store.getJob(jobId);
    if (!record) throw new ValidationError(`job ${jobId} does not exist`, []);
    const spec = await this.o.store.getSpec(jobId);
    // Checked when they were added (inputs included); expanding again only rebuilds them.
    const { job, added: tasks } = await this.#expand(
      jobId,
      record.owner,
      { ...spec, tasks: spec.tasks!.slice(0, added.first + added.count) },
      added.count,
    );
    const graph: StoredGraph = await this.o.runner.readGraph(jobId);
    const known = new Set(graph.tasks.map((task) => task.id));
    for (const task of tasks) {
      if (known.has(task.id)) continue;
      graph.tasks.push(graphTask(task));
      graph.order.push(task.id);
    }
    await this.o.jobs.writeJson(jobLayout.graph(jobId), graph);

    const statuses = new Map<string, TaskStatus>();
    const exitCodes = new Map<string, number>();
    let continuation: string | undefined;
    do {
      const page = await this.o.store.listTasks(jobId, {
        limit: 1000,
        ...(continuation ? { continuation } : {}),
      });
      for (const task of page.items) {
        statuses.set(task.id, task.status);
        if (task.exitCode !== undefined) exitCodes.set(task.id, task.exitCode);
      }
      continuation = page.continuation;
    } while (continuation);
    const byId = new Map(graph.tasks.map((task) => [task.id, task]));
    await this.o.store.putTasks(
      jobId,
      tasks.map((task) => ({ id: task.id, status: pendingOrQueued(task, byId, statuses) })),
      added.first,
    );
    for (const task of tasks) if (!statuses.has(task.id)) statuses.set(task.id, 'PENDING');
    // A new task behind one that already failed would wait on Batch for ever: settled now.
    const skip = tasksToSkip(
      graph.tasks,
      graph.order,
      statuses,
      await this.o.store.tasksCancelledAlone(jobId),
      exitCodes,
    );
    if (skip.length > 0) {
      const at = (this.o.now?.() ?? new Date()).toISOString();
      await this.o.store.updateTasks(
        jobId,
        skip.map(({ id, status }) => ({ id, status, attempt: 1, at })),
      );
    }
    return this.o.runner.planAddedTasks(jobId, record.owner, { ...job, tasks }, added.set);
  }
}

/** A path in a job's spec as a request adding tasks at `tasks[earlier..]` names it. */
function requestPath(path: string, earlier: number): string {
  const match = /^tasks\[(\d+)\](.*)$/s.exec(path);
  if (!match || Number(match[1]) < earlier) return path;
  return `tasks[${Number(match[1]) - earlier}]${match[2]}`;
}

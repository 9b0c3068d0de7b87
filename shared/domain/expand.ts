import { ValidationError } from '../errors.js';
import { validateDag, type DagTask } from './dag.js';
import type { FieldIssue } from './issues.js';
import type { JobSpec, NotificationSpec, SpecLimits, TaskSpec, TemplateBody } from './jobSpec.js';
import type { MacroSyntaxError } from './macros.js';
import { TemplateCache } from './macros.js';
import {
  defaultTarget,
  isContainerName,
  matchesAnyPattern,
  globSyntaxProblem,
  parseInputSource,
  relativePathProblem,
} from './paths.js';
import { applyTemplate } from './templates.js';

/** Where a task input comes from, resolved. */
export type ExpandedInput =
  | { kind: 'blob'; container: string; path: string; target: string }
  | { kind: 'https'; url: string; target: string }
  | { kind: 'fromTask'; taskId: string; path: string; target: string };

/** One concrete task, with the job's defaults applied and every macro expanded. */
export interface ExpandedTask {
  id: string;
  command: string;
  image?: string;
  env: Record<string, string>;
  inputs: ExpandedInput[];
  /** Output patterns archived from this task's working directory (the job's and its own). */
  outputs: string[];
  dependsOn: string[];
  dependsOnRanges: Array<[number, number]>;
  runDependentsOnFailure: boolean;
  retries: number;
  timeoutMinutes?: number;
  /** The sweep index this task was made for. */
  index?: number;
}

/** A job spec made concrete: what the orchestration submits. */
export interface ExpandedJob {
  name: string;
  description?: string;
  template?: string;
  pool: string;
  image?: string;
  parameters: Record<string, string>;
  /** Inputs every task receives. */
  inputs: ExpandedInput[];
  outputs: string[];
  logs: { container: string; folder: string };
  timeoutMinutes?: number;
  completeWhenTasksFinish: boolean;
  taskIdStyle: 'string' | 'int';
  notifications: NotificationSpec[];
  tags: Record<string, string>;
  tasks: ExpandedTask[];
  /** Task ids in an order where each follows everything it depends on. */
  order: string[];
}

/** What expansion needs besides the spec: who, where, and the limits. */
export interface ExpandContext {
  jobId: string;
  owner: string;
  /** The job's input location (built-in macro `${inputDir}`). */
  inputDir: string;
  /** The job's output location (built-in macro `${outputDir}`). */
  outputDir: string;
  defaultPool: string;
  defaultLogsContainer: string;
  limits: SpecLimits;
  /** The template the spec names, already looked up (absent if it names none). */
  template?: { ref: string; body: TemplateBody };
}

const MAX_ISSUES = 100;

class Issues {
  readonly list: FieldIssue[] = [];
  add(path: string, message: string): void {
    if (this.list.length < MAX_ISSUES) this.list.push({ path, message });
  }
  get full(): boolean {
    return this.list.length >= MAX_ISSUES;
  }
}

/**
 * Expands a validated spec (its shape already checked by `jobSpecSchema`) into the concrete task
 * list: applies the template, numbers tasks, expands sweeps and macros, resolves inputs, and checks
 * everything the shape cannot — limits, paths after expansion, unknown macros, `fromTask`
 * producers, and the dependency graph. Pure; throws a {@link ValidationError} listing every
 * problem (up to 100), each at the path of the field in the submitted document.
 */
export function expandJob(submitted: JobSpec, context: ExpandContext): ExpandedJob {
  const spec = context.template ? applyTemplate(context.template.body, submitted) : submitted;
  const issues = new Issues();
  const cache = new TemplateCache();

  if (!spec.name) issues.add('name', 'is required (in the spec or its template)');
  if (!spec.tasks && !spec.sweep) issues.add('tasks', 'give tasks or a sweep (in the spec or its template)');
  const taskCount = spec.tasks
    ? spec.tasks.length
    : spec.sweep
      ? spec.sweep.range[1] - spec.sweep.range[0] + 1
      : 0;
  if (taskCount > context.limits.maxTasks) {
    issues.add(
      spec.sweep && !spec.tasks ? 'sweep.range' : 'tasks',
      `makes ${taskCount} tasks; the limit is ${context.limits.maxTasks}`,
    );
  }
  if (issues.list.length > 0) throw invalid(issues);

  const name = spec.name!;
  const intIds = spec.taskIdStyle === 'int' || (!spec.tasks && !!spec.sweep);
  const parameters = spec.parameters ?? {};
  const jobMacros: Record<string, string> = {
    ...parameters,
    jobId: context.jobId,
    jobName: name,
    owner: context.owner,
    inputDir: context.inputDir,
    outputDir: context.outputDir,
  };

  type PathRef = string | (() => string);
  const at = (path: PathRef) => (typeof path === 'string' ? path : path());

  const render = (text: string, path: PathRef, task: { id?: string; index?: number }): string | undefined => {
    let compiled;
    try {
      compiled = cache.compile(text);
    } catch (error) {
      issues.add(at(path), (error as MacroSyntaxError).message);
      return undefined;
    }
    if (compiled.length === 1 && typeof compiled[0] === 'string') return compiled[0];
    let value = '';
    for (const part of compiled) {
      if (typeof part === 'string') {
        value += part;
        continue;
      }
      const replacement =
        part.macro === 'taskId'
          ? task.id
          : part.macro === 'index'
            ? task.index === undefined
              ? undefined
              : String(task.index)
            : jobMacros[part.macro];
      if (replacement === undefined) {
        issues.add(at(path), unknownMacro(part.macro, task));
        return undefined;
      }
      value += replacement;
    }
    return value;
  };

  // A sweep renders one pattern per task: its glob syntax is checked once, on the text as written.
  const globProblems = new Map<string, string | undefined>();
  const patternProblemOf = (text: string, value: string) => {
    let glob = globProblems.get(text);
    if (glob === undefined && !globProblems.has(text)) {
      glob = globSyntaxProblem(text);
      globProblems.set(text, glob);
    }
    return relativePathProblem(value) ?? glob;
  };

  const renderPath = (
    text: string,
    path: PathRef,
    task: { id?: string; index?: number },
    kind: 'path' | 'pattern' = 'path',
  ): string | undefined => {
    const value = render(text, path, task);
    if (value === undefined) return undefined;
    const problem = kind === 'pattern' ? patternProblemOf(text, value) : relativePathProblem(value);
    if (problem) {
      issues.add(at(path), value === text ? problem : `${problem} (after macros: "${value}")`);
      return undefined;
    }
    return value;
  };

  const renderSourceInput = (
    input: { source: string; target?: string },
    path: string,
    task: { id?: string; index?: number },
  ): ExpandedInput | undefined => {
    const sourceText = render(input.source, `${path}.source`, task);
    if (sourceText === undefined) return undefined;
    const source = parseInputSource(sourceText);
    if ('problem' in source) {
      issues.add(`${path}.source`, source.problem);
      return undefined;
    }
    const target =
      input.target === undefined ? defaultTarget(source) : renderPath(input.target, `${path}.target`, task);
    if (target === undefined) return undefined;
    const targetProblem = relativePathProblem(target);
    if (targetProblem) {
      issues.add(`${path}.target`, `${targetProblem} (the default target, from the source: "${target}")`);
      return undefined;
    }
    return source.kind === 'blob'
      ? { kind: 'blob', container: source.container, path: source.path, target }
      : { kind: 'https', url: source.url, target };
  };

  // Job-level fields.
  const jobScope = {};
  const jobInputs = (spec.inputs ?? []).flatMap((input, i) => {
    const resolved = renderSourceInput(input, `inputs[${i}]`, jobScope);
    return resolved ? [resolved] : [];
  });
  const jobOutputs = (spec.outputs?.patterns ?? []).flatMap((pattern, i) => {
    const value = renderPath(pattern, `outputs.patterns[${i}]`, jobScope, 'pattern');
    return value === undefined ? [] : [value];
  });
  const logsContainer = spec.logs?.container ?? context.defaultLogsContainer;
  if (!isContainerName(logsContainer)) {
    issues.add(
      'logs.container',
      'is not a valid container name (3-63 lowercase letters, digits and single hyphens)',
    );
  }
  const logsFolder = renderPath(spec.logs?.folder ?? 'logs', 'logs.folder', jobScope) ?? 'logs';
  const jobEnv = spec.env ?? {};

  const finishTask = (
    base: {
      id: string;
      index?: number;
      command: string;
      image?: string;
      env?: Record<string, string>;
      outputs?: string[];
      retries?: number;
      timeoutMinutes?: number;
    },
    pathOf: (field: string) => string,
  ): ExpandedTask | undefined => {
    // Runs once per task, 100,000 times for a large sweep: paths are built only for errors, and
    // values without macros skip rendering.
    const scope = base.index === undefined ? { id: base.id } : { id: base.id, index: base.index };
    const command = render(base.command, () => pathOf('command'), scope);
    if (command !== undefined && command.length > context.limits.maxCommandLength) {
      issues.add(
        pathOf('command'),
        `is ${command.length} characters after macros; the limit is ${context.limits.maxCommandLength}`,
      );
    }
    const env: Record<string, string> = {};
    let envBytes = 0;
    const mergedEnv = base.env ? { ...jobEnv, ...base.env } : jobEnv;
    for (const key in mergedEnv) {
      const value = mergedEnv[key]!;
      const rendered = value.includes('$')
        ? render(value, () => (base.env && key in base.env ? pathOf(`env.${key}`) : `env.${key}`), scope)
        : value;
      if (rendered === undefined) continue;
      env[key] = rendered;
      envBytes += Buffer.byteLength(key) + Buffer.byteLength(rendered) + 2;
    }
    if (envBytes > context.limits.maxEnvBytes) {
      issues.add(
        pathOf('env'),
        `is ${envBytes} bytes after macros; the limit is ${context.limits.maxEnvBytes}`,
      );
    }
    const outputs = jobOutputs.slice();
    if (base.outputs) {
      for (let i = 0; i < base.outputs.length; i++) {
        const value = renderPath(base.outputs[i]!, () => pathOf(`outputs[${i}]`), scope, 'pattern');
        if (value !== undefined && !outputs.includes(value)) outputs.push(value);
      }
    }
    if (command === undefined) return undefined;
    const task: ExpandedTask = {
      id: base.id,
      command,
      env,
      inputs: [],
      outputs,
      dependsOn: [],
      dependsOnRanges: [],
      runDependentsOnFailure: false,
      retries: base.retries ?? spec.retries ?? 0,
    };
    const image = base.image ?? spec.image;
    if (image) task.image = image;
    if (base.timeoutMinutes !== undefined) task.timeoutMinutes = base.timeoutMinutes;
    if (base.index !== undefined) task.index = base.index;
    return task;
  };

  const tasks: ExpandedTask[] = [];
  const dagTasks: DagTask[] = [];
  const fromTaskInputs: Array<{
    task: ExpandedTask;
    path: string;
    input: { fromTask: string; path: string; target?: string };
  }> = [];

  if (spec.tasks) {
    spec.tasks.forEach((task: TaskSpec, i) => {
      if (issues.full) return;
      const path = `tasks[${i}]`;
      const pathOf = (field: string) => `${path}.${field}`;
      let id = task.id;
      if (id === undefined) {
        if (!intIds) {
          issues.add(pathOf('id'), 'is required (or set taskIdStyle to "int" to number tasks 1..n)');
          return;
        }
        id = String(i + 1);
      }
      const expanded = finishTask({ ...task, id }, pathOf);
      if (!expanded) return;
      (task.inputs ?? []).forEach((input, j) => {
        const inputPath = pathOf(`inputs[${j}]`);
        if ('fromTask' in input) {
          fromTaskInputs.push({ task: expanded, path: inputPath, input });
          return;
        }
        const resolved = renderSourceInput(input, inputPath, { id: expanded.id });
        if (resolved) expanded.inputs.push(resolved);
      });
      expanded.dependsOn = [...new Set(task.dependsOn ?? [])];
      if (task.dependsOnRange) expanded.dependsOnRanges = [[task.dependsOnRange[0], task.dependsOnRange[1]]];
      expanded.runDependentsOnFailure = task.runDependentsOnFailure ?? false;
      tasks.push(expanded);
      dagTasks.push({
        id: expanded.id,
        path,
        dependsOn: expanded.dependsOn,
        dependsOnRanges: expanded.dependsOnRanges,
      });
    });
  } else if (spec.sweep) {
    const sweep = spec.sweep;
    const pathOf = (field: string) => `sweep.${field}`;
    const noDependencies: readonly string[] = [];
    const noRanges: ReadonlyArray<readonly [number, number]> = [];
    for (let index = sweep.range[0]; index <= sweep.range[1] && !issues.full; index++) {
      const expanded = finishTask(
        {
          id: String(index),
          index,
          command: sweep.command,
          ...(sweep.image ? { image: sweep.image } : {}),
          ...(sweep.env ? { env: sweep.env } : {}),
          ...(sweep.outputs ? { outputs: sweep.outputs } : {}),
          ...(sweep.retries !== undefined ? { retries: sweep.retries } : {}),
          ...(sweep.timeoutMinutes !== undefined ? { timeoutMinutes: sweep.timeoutMinutes } : {}),
        },
        pathOf,
      );
      if (!expanded) continue;
      (sweep.inputs ?? []).forEach((input, j) => {
        const resolved = renderSourceInput(input, pathOf(`inputs[${j}]`), { id: expanded.id, index });
        if (resolved) expanded.inputs.push(resolved);
      });
      tasks.push(expanded);
      dagTasks.push({ id: expanded.id, path: 'sweep', dependsOn: noDependencies, dependsOnRanges: noRanges });
    }
  }

  // A fromTask input names its producer, which becomes a dependency; the file must be one the
  // producer declares as output, or it would never be there to stage.
  if (fromTaskInputs.length > 0) {
    const byId = new Map(tasks.map((task) => [task.id, task]));
    for (const { task, path, input } of fromTaskInputs) {
      const producer = byId.get(input.fromTask);
      if (!producer) {
        issues.add(`${path}.fromTask`, `names unknown task "${input.fromTask}"`);
        continue;
      }
      if (producer === task) {
        issues.add(`${path}.fromTask`, 'names the task itself; a task cannot take its own outputs as input');
        continue;
      }
      const file = renderPath(input.path, `${path}.path`, { id: task.id });
      if (file === undefined) continue;
      if (!matchesAnyPattern(file, producer.outputs)) {
        issues.add(
          `${path}.path`,
          producer.outputs.length === 0
            ? `task "${producer.id}" declares no outputs, so "${file}" would never be there`
            : `"${file}" is not among task "${producer.id}"'s outputs (${producer.outputs.join(', ')})`,
        );
        continue;
      }
      const target =
        input.target === undefined ? file : renderPath(input.target, `${path}.target`, { id: task.id });
      if (target === undefined) continue;
      task.inputs.push({ kind: 'fromTask', taskId: producer.id, path: file, target });
      if (!task.dependsOn.includes(producer.id)) task.dependsOn.push(producer.id);
    }
  }

  if (issues.list.length > 0) throw invalid(issues);

  const dag = validateDag(dagTasks, { intIds, maxEdges: context.limits.maxDependencyEdges });
  for (const issue of dag.issues) issues.add(issue.path, issue.message);
  if (issues.list.length > 0) throw invalid(issues);

  return {
    name,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    ...(context.template ? { template: context.template.ref } : {}),
    pool: spec.pool ?? context.defaultPool,
    ...(spec.image ? { image: spec.image } : {}),
    parameters,
    inputs: jobInputs,
    outputs: jobOutputs,
    logs: { container: logsContainer, folder: logsFolder },
    ...(spec.timeoutMinutes !== undefined ? { timeoutMinutes: spec.timeoutMinutes } : {}),
    completeWhenTasksFinish: spec.completeWhenTasksFinish ?? true,
    taskIdStyle: intIds ? 'int' : 'string',
    notifications: spec.notifications ?? [],
    tags: spec.tags ?? {},
    tasks,
    order: dag.order,
  };
}

function unknownMacro(name: string, task: { id?: string; index?: number }): string {
  if (name === 'index') return 'uses ${index}, which is defined only in a sweep';
  if (name === 'taskId' && task.id === undefined) return 'uses ${taskId} outside a task';
  return `uses \${${name}}, which is neither a parameter nor a built-in macro`;
}

function invalid(issues: Issues): ValidationError {
  const count = issues.list.length;
  return new ValidationError(
    `the job spec is invalid: ${count}${issues.full ? '+' : ''} problem${count === 1 ? '' : 's'}`,
    issues.list,
    'INVALID_JOB_SPEC',
  );
}

import { ValidationError } from '../errors.js';
import { validateDag, type DagTask } from './dag.js';
import type { FieldIssue } from './issues.js';
import type { EnvValue, JobSpec, SpecLimits, TaskSpec, TemplateBody } from './jobSpec.js';
import type { MacroSyntaxError } from './macros.js';
import { OUTPUT_FOLDER, TemplateCache, WORKING_DIR } from './macros.js';
import {
  defaultTarget,
  isContainerName,
  matchesAnyPattern,
  globSyntaxProblem,
  parseInputSource,
  relativePathProblem,
} from './paths.js';
import { applyTemplate } from './templates.js';
import { resumeTasks, type DoneTasks } from './resume.js';
import { jobPlacement, taskSlots, type Preset } from './presets.js';
import type { ExpandedInput, ExpandedJob, ExpandedTask } from './expandedJob.js';

export type { ExitCodeRules, ExpandedInput, ExpandedJob, ExpandedTask } from './expandedJob.js';

/** What expansion needs besides the spec: who, where, and the limits. */
export interface ExpandContext {
  jobId: string;
  owner: string;
  defaultPool: string;
  defaultLogsContainer: string;
  limits: SpecLimits;
  /** The template the spec names, already looked up (absent if it names none). */
  template?: { ref: string; body: TemplateBody };
  /** The deployment's resource presets, by name. */
  presets?: ReadonlyMap<string, Preset>;
  /** For a spec with `resumeFrom`: the tasks done already, looked up (see {@link resumeTasks}). */
  resume?: { from: string; done: DoneTasks };
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
  checkSize(spec, context);
  const expansion = new Expansion(spec, context);
  const tasks = spec.tasks ? expansion.listedTasks(spec.tasks) : expansion.sweepTasks(spec.sweep!);
  expansion.linkFromTaskInputs(tasks);
  // The whole graph is checked as written; only then are the done tasks left out.
  const planned = { tasks, order: expansion.order() };
  const { tasks: left, order } = context.resume
    ? resumeTasks(tasks, planned.order, context.resume.done)
    : planned;
  if (left.length === 0) {
    throw new ValidationError('the job spec is invalid: 1 problem', [
      {
        path: 'resumeFrom',
        message: `every task succeeded in job ${context.resume!.from} already: nothing is left to run`,
      },
    ]);
  }
  const { intIds, parameters, jobInputs, jobOutputs, logs, secrets } = expansion;
  return {
    name: spec.name!,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    ...(context.template ? { template: context.template.ref } : {}),
    pool: expansion.placement.pool,
    ...(spec.preset !== undefined ? { preset: spec.preset } : {}),
    ...(spec.image ? { image: spec.image } : {}),
    parameters,
    inputs: jobInputs,
    outputs: jobOutputs,
    logs,
    ...(spec.timeoutMinutes !== undefined ? { timeoutMinutes: spec.timeoutMinutes } : {}),
    ...(spec.maxQueuedMinutes !== undefined ? { maxQueuedMinutes: spec.maxQueuedMinutes } : {}),
    ...(spec.maxBlockedMinutes !== undefined ? { maxBlockedMinutes: spec.maxBlockedMinutes } : {}),
    priority: spec.priority ?? 0,
    completeWhenTasksFinish: spec.completeWhenTasksFinish ?? true,
    allowCancelledTasks: spec.allowCancelledTasks ?? false,
    taskIdStyle: intIds ? 'int' : 'string',
    notifications: spec.notifications ?? [],
    tags: spec.tags ?? {},
    ...(context.resume
      ? { resumedFrom: { job: context.resume.from, done: tasks.length - left.length } }
      : {}),
    ...(secrets.size > 0 ? { secrets: [...secrets].map(([name, path]) => ({ name, path })) } : {}),
    tasks: left,
    order,
  };
}

/** A name, tasks (or a sweep) and no more of them than the limit, before anything is expanded. */
function checkSize(spec: JobSpec, context: ExpandContext): void {
  const issues = new Issues();
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
}

/** A field's path, or a function that builds it: built only for an error, 100,000 times cheaper. */
type PathRef = string | (() => string);
const at = (path: PathRef) => (typeof path === 'string' ? path : path());

/** The fields of a task before the job's defaults and macros are applied. */
interface TaskBase {
  id: string;
  index?: number;
  command: string;
  image?: string;
  env?: Record<string, EnvValue>;
  outputs?: string[];
  retries?: number;
  timeoutMinutes?: number;
  /** Slots it takes, resolved from its own slots or preset (absent: the job's). */
  slots?: number;
  exitCodes?: JobSpec['exitCodes'];
}

/** A `fromTask` input, linked to its producer once every task exists. */
interface FromTaskInput {
  task: ExpandedTask;
  path: string;
  input: { fromTask: string; path: string; target?: string };
}

/**
 * One job's expansion: the job-wide values every task draws on, the macro renderer, and the
 * problems found so far (each at its field's path), collected rather than thrown so that a user
 * hears of all of them at once.
 */
class Expansion {
  readonly issues = new Issues();
  readonly intIds: boolean;
  readonly parameters: Record<string, string>;
  readonly jobInputs: ExpandedInput[];
  readonly jobOutputs: string[];
  readonly logs: { container: string; folder: string };
  /** The job's pool, and the slots its tasks take unless they say otherwise. */
  readonly placement: { pool: string; slots: number };
  readonly #presets: ReadonlyMap<string, Preset>;
  readonly #cache = new TemplateCache();
  readonly #jobMacros: Record<string, string>;
  /** Whether the task being expanded used `${outputDir}`: then its folder is made and uploaded. */
  #usedOutputDir = false;
  readonly #jobEnv: Record<string, EnvValue>;
  /** Each secret the job's env names, with where it was first named. */
  readonly secrets = new Map<string, string>();
  // A sweep renders one pattern per task: its glob syntax is checked once, on the text as written.
  readonly #globProblems = new Map<string, string | undefined>();
  readonly #dagTasks: DagTask[] = [];
  readonly #fromTaskInputs: FromTaskInput[] = [];

  constructor(
    private readonly spec: JobSpec,
    private readonly context: ExpandContext,
  ) {
    this.intIds = spec.taskIdStyle === 'int' || (!spec.tasks && !!spec.sweep);
    this.parameters = spec.parameters ?? {};
    this.#presets = context.presets ?? new Map();
    this.placement = jobPlacement(spec, this.#presets, context.defaultPool, (path, message) =>
      this.issues.add(path, message),
    );
    this.#jobMacros = {
      ...this.parameters,
      jobId: context.jobId,
      jobName: spec.name!,
      owner: context.owner,
      inputDir: WORKING_DIR,
      outputDir: `${WORKING_DIR}/${OUTPUT_FOLDER}`,
    };
    const jobScope = {};
    this.jobInputs = (spec.inputs ?? []).flatMap((input, i) => {
      const resolved = this.#sourceInput(input, `inputs[${i}]`, jobScope);
      return resolved ? [resolved] : [];
    });
    this.jobOutputs = (spec.outputs?.patterns ?? []).flatMap((pattern, i) => {
      const value = this.#renderPath(pattern, `outputs.patterns[${i}]`, jobScope, 'pattern');
      return value === undefined ? [] : [value];
    });
    const logsContainer = spec.logs?.container ?? context.defaultLogsContainer;
    if (!isContainerName(logsContainer)) {
      this.issues.add(
        'logs.container',
        'is not a valid container name (3-63 lowercase letters, digits and single hyphens)',
      );
    }
    const logsFolder = this.#renderPath(spec.logs?.folder ?? 'logs', 'logs.folder', jobScope) ?? 'logs';
    this.logs = { container: logsContainer, folder: logsFolder };
    this.#jobEnv = spec.env ?? {};
  }

  /** The tasks a spec lists, with their ids (numbered 1..n when the style is int). */
  listedTasks(listed: readonly TaskSpec[]): ExpandedTask[] {
    const tasks: ExpandedTask[] = [];
    listed.forEach((task, i) => {
      if (this.issues.full) return;
      const path = `tasks[${i}]`;
      const pathOf = (field: string) => `${path}.${field}`;
      let id = task.id;
      if (id === undefined) {
        if (!this.intIds) {
          this.issues.add(pathOf('id'), 'is required (or set taskIdStyle to "int" to number tasks 1..n)');
          return;
        }
        id = String(i + 1);
      }
      const slots = taskSlots(task, this.placement, this.#presets, (p, m) => this.issues.add(p, m), pathOf);
      const expanded = this.#task({ ...task, id, slots }, pathOf);
      if (!expanded) return;
      (task.inputs ?? []).forEach((input, j) => {
        const inputPath = pathOf(`inputs[${j}]`);
        if ('fromTask' in input) {
          this.#fromTaskInputs.push({ task: expanded, path: inputPath, input });
          return;
        }
        const resolved = this.#sourceInput(input, inputPath, { id: expanded.id });
        if (resolved) expanded.inputs.push(resolved);
      });
      expanded.dependsOn = [...new Set(task.dependsOn ?? [])];
      if (task.dependsOnRange) expanded.dependsOnRanges = [[task.dependsOnRange[0], task.dependsOnRange[1]]];
      expanded.runDependentsOnFailure = task.runDependentsOnFailure ?? false;
      tasks.push(expanded);
      this.#dagTasks.push({
        id: expanded.id,
        path,
        dependsOn: expanded.dependsOn,
        dependsOnRanges: expanded.dependsOnRanges,
      });
    });
    return tasks;
  }

  /** One task per index of a sweep, `${index}` rendered in each. */
  sweepTasks(sweep: NonNullable<JobSpec['sweep']>): ExpandedTask[] {
    const tasks: ExpandedTask[] = [];
    const pathOf = (field: string) => `sweep.${field}`;
    const noDependencies: readonly string[] = [];
    const noRanges: ReadonlyArray<readonly [number, number]> = [];
    // The same for every task: resolved (and any problem said) once.
    const slots = taskSlots(sweep, this.placement, this.#presets, (p, m) => this.issues.add(p, m), pathOf);
    for (let index = sweep.range[0]; index <= sweep.range[1] && !this.issues.full; index++) {
      const expanded = this.#task(
        {
          id: String(index),
          index,
          command: sweep.command,
          ...(sweep.image ? { image: sweep.image } : {}),
          ...(sweep.env ? { env: sweep.env } : {}),
          ...(sweep.outputs ? { outputs: sweep.outputs } : {}),
          ...(sweep.retries !== undefined ? { retries: sweep.retries } : {}),
          ...(sweep.timeoutMinutes !== undefined ? { timeoutMinutes: sweep.timeoutMinutes } : {}),
          ...(sweep.exitCodes ? { exitCodes: sweep.exitCodes } : {}),
          slots,
        },
        pathOf,
      );
      if (!expanded) continue;
      (sweep.inputs ?? []).forEach((input, j) => {
        const resolved = this.#sourceInput(input, pathOf(`inputs[${j}]`), { id: expanded.id, index });
        if (resolved) expanded.inputs.push(resolved);
      });
      tasks.push(expanded);
      this.#dagTasks.push({
        id: expanded.id,
        path: 'sweep',
        dependsOn: noDependencies,
        dependsOnRanges: noRanges,
      });
    }
    return tasks;
  }

  /**
   * A fromTask input names its producer, which becomes a dependency; the file must be one the
   * producer declares as output, or it would never be there to stage.
   */
  linkFromTaskInputs(tasks: readonly ExpandedTask[]): void {
    if (this.#fromTaskInputs.length === 0) return;
    const byId = new Map(tasks.map((task) => [task.id, task]));
    for (const { task, path, input } of this.#fromTaskInputs) {
      const producer = byId.get(input.fromTask);
      if (!producer) {
        this.issues.add(`${path}.fromTask`, `names unknown task "${input.fromTask}"`);
        continue;
      }
      if (producer === task) {
        this.issues.add(
          `${path}.fromTask`,
          'names the task itself; a task cannot take its own outputs as input',
        );
        continue;
      }
      const file = this.#renderPath(input.path, `${path}.path`, { id: task.id });
      if (file === undefined) continue;
      if (!matchesAnyPattern(file, producer.outputs)) {
        this.issues.add(
          `${path}.path`,
          producer.outputs.length === 0
            ? `task "${producer.id}" declares no outputs, so "${file}" would never be there`
            : `"${file}" is not among task "${producer.id}"'s outputs (${producer.outputs.join(', ')})`,
        );
        continue;
      }
      const target =
        input.target === undefined ? file : this.#renderPath(input.target, `${path}.target`, { id: task.id });
      if (target === undefined) continue;
      task.inputs.push({ kind: 'fromTask', taskId: producer.id, path: file, target });
      if (!task.dependsOn.includes(producer.id)) task.dependsOn.push(producer.id);
    }
  }

  /** The tasks in an order that runs each after what it depends on; throws every problem found. */
  order(): string[] {
    if (this.issues.list.length > 0) throw invalid(this.issues);
    const dag = validateDag(this.#dagTasks, {
      intIds: this.intIds,
      maxEdges: this.context.limits.maxDependencyEdges,
    });
    for (const issue of dag.issues) this.issues.add(issue.path, issue.message);
    if (this.issues.list.length > 0) throw invalid(this.issues);
    return dag.order;
  }

  /**
   * A task with the job's defaults applied and its macros rendered. Runs once per task, 100,000
   * times for a large sweep: paths are built only for errors, and values without macros skip
   * rendering.
   */
  #task(base: TaskBase, pathOf: (field: string) => string): ExpandedTask | undefined {
    const { limits } = this.context;
    const scope = base.index === undefined ? { id: base.id } : { id: base.id, index: base.index };
    this.#usedOutputDir = false;
    const command = this.#render(base.command, () => pathOf('command'), scope, 'shell');
    if (command !== undefined && command.length > limits.maxCommandLength) {
      this.issues.add(
        pathOf('command'),
        `is ${command.length} characters after macros; the limit is ${limits.maxCommandLength}`,
      );
    }
    const env: Record<string, string> = {};
    let envBytes = 0;
    const mergedEnv = base.env ? { ...this.#jobEnv, ...base.env } : this.#jobEnv;
    let secretEnv: Record<string, string> | undefined;
    for (const key in mergedEnv) {
      const value = mergedEnv[key]!;
      const at = () => (base.env && key in base.env ? pathOf(`env.${key}`) : `env.${key}`);
      if (typeof value !== 'string') {
        // Only the name travels: the value is read when the task goes to Batch, and never stored.
        (secretEnv ??= {})[key] = value.secretRef;
        if (!this.secrets.has(value.secretRef)) this.secrets.set(value.secretRef, at());
        continue;
      }
      const rendered = value.includes('$') ? this.#render(value, at, scope, 'shell') : value;
      if (rendered === undefined) continue;
      env[key] = rendered;
      envBytes += Buffer.byteLength(key) + Buffer.byteLength(rendered) + 2;
    }
    if (envBytes > limits.maxEnvBytes) {
      this.issues.add(pathOf('env'), `is ${envBytes} bytes after macros; the limit is ${limits.maxEnvBytes}`);
    }
    const outputs = this.jobOutputs.slice();
    if (base.outputs) {
      for (let i = 0; i < base.outputs.length; i++) {
        const value = this.#renderPath(base.outputs[i]!, () => pathOf(`outputs[${i}]`), scope, 'pattern');
        if (value !== undefined && !outputs.includes(value)) outputs.push(value);
      }
    }
    // What a task writes to ${outputDir} comes back without being declared.
    const writesOutputDir = this.#usedOutputDir;
    if (writesOutputDir && !outputs.includes(`${OUTPUT_FOLDER}/**`)) outputs.push(`${OUTPUT_FOLDER}/**`);
    if (command === undefined) return undefined;
    const task: ExpandedTask = {
      id: base.id,
      command,
      env,
      ...(secretEnv ? { secretEnv } : {}),
      inputs: [],
      outputs,
      dependsOn: [],
      dependsOnRanges: [],
      runDependentsOnFailure: false,
      retries: base.retries ?? this.spec.retries ?? 0,
    };
    const image = base.image ?? this.spec.image;
    if (image) task.image = image;
    if (base.timeoutMinutes !== undefined) task.timeoutMinutes = base.timeoutMinutes;
    const slots = base.slots ?? this.placement.slots;
    if (slots > 1) task.slots = slots;
    const rules = base.exitCodes ?? this.spec.exitCodes;
    if (rules) {
      task.exitCodes = {
        success: (rules.success ?? []).filter((code) => code !== 0),
        failJob: rules.failJob ?? [],
        runDependents: rules.runDependents ?? [],
      };
    }
    if (base.index !== undefined) task.index = base.index;
    if (writesOutputDir) task.makesOutputDir = true;
    return task;
  }

  /**
   * Renders `${...}` macros; an unknown one or bad syntax is a problem at `path`. The working
   * directory macros render only where a shell will read them (`shell`: commands, env values).
   */
  #render(
    text: string,
    path: PathRef,
    task: { id?: string; index?: number },
    where: 'shell' | 'path' = 'path',
  ): string | undefined {
    let compiled;
    try {
      compiled = this.#cache.compile(text);
    } catch (error) {
      this.issues.add(at(path), (error as MacroSyntaxError).message);
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
            : this.#jobMacros[part.macro];
      if (replacement === undefined) {
        this.issues.add(at(path), unknownMacro(part.macro, task));
        return undefined;
      }
      if (part.macro === 'inputDir' || part.macro === 'outputDir') {
        if (where !== 'shell') {
          this.issues.add(at(path), workingDirMacro(part.macro));
          return undefined;
        }
        if (part.macro === 'outputDir') this.#usedOutputDir = true;
      }
      value += replacement;
    }
    return value;
  }

  /** Renders a relative path (or an output pattern) that must stay inside the working directory. */
  #renderPath(
    text: string,
    path: PathRef,
    task: { id?: string; index?: number },
    kind: 'path' | 'pattern' = 'path',
  ): string | undefined {
    const value = this.#render(text, path, task);
    if (value === undefined) return undefined;
    const problem = kind === 'pattern' ? this.#patternProblem(text, value) : relativePathProblem(value);
    if (problem) {
      this.issues.add(at(path), value === text ? problem : `${problem} (after macros: "${value}")`);
      return undefined;
    }
    return value;
  }

  #patternProblem(text: string, value: string): string | undefined {
    let glob = this.#globProblems.get(text);
    if (glob === undefined && !this.#globProblems.has(text)) {
      glob = globSyntaxProblem(text);
      this.#globProblems.set(text, glob);
    }
    return relativePathProblem(value) ?? glob;
  }

  /** A files, blob or https input, its macros rendered and its target resolved. */
  #sourceInput(
    input: { source: string; target?: string },
    path: string,
    task: { id?: string; index?: number },
  ): ExpandedInput | undefined {
    const sourceText = this.#render(input.source, `${path}.source`, task);
    if (sourceText === undefined) return undefined;
    const source = parseInputSource(sourceText);
    if ('problem' in source) {
      this.issues.add(`${path}.source`, source.problem);
      return undefined;
    }
    const target =
      input.target === undefined
        ? defaultTarget(source)
        : this.#renderPath(input.target, `${path}.target`, task);
    if (target === undefined) return undefined;
    const targetProblem = relativePathProblem(target);
    if (targetProblem) {
      this.issues.add(
        `${path}.target`,
        `${targetProblem} (the default target, from the source: "${target}")`,
      );
      return undefined;
    }
    switch (source.kind) {
      case 'blob':
        return { kind: 'blob', container: source.container, path: source.path, target };
      case 'files':
        return { kind: 'files', path: source.path, target };
      case 'https':
        return { kind: 'https', url: source.url, target };
    }
  }
}

function workingDirMacro(name: 'inputDir' | 'outputDir'): string {
  return name === 'inputDir'
    ? 'uses ${inputDir}, the task’s working directory on its node, known only when it runs: it is for commands and env values; paths here are relative to it already'
    : `uses \${outputDir}, a folder of the task’s working directory known only when it runs: it is for commands and env values; name its files here as ${OUTPUT_FOLDER}/...`;
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

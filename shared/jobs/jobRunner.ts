import type {
  ComputeBackend,
  ComputeJobSpec,
  ComputeTaskSpec,
  ComputeTaskState,
  TaskPage,
} from '../compute/compute.js';
import { isAppError, NotFoundError, ValidationError } from '../errors.js';
import type { ExpandedJob, ExpandedTask } from '../domain/expand.js';
import { expandSpec, type ExpansionSettings } from './expansion.js';
import type { SpecLimits } from '../domain/jobSpec.js';
import { isFinal, isFinalTask, type JobCondition, type TaskStatus } from '../domain/lifecycle.js';
import type { Preset } from '../domain/presets.js';
import { pendingOrQueued, progressOf, statusFromBatch, type GraphTask } from '../domain/taskState.js';
import type { JobStore, TaskUpdate } from '../store/jobStore.js';
import { planBatchJob, type DataLocations, type JobLayout, type PlannedTask } from '../domain/batchPlan.js';
import { NO_SECRETS, type Secrets } from './secrets.js';
import { forEachLimited } from '../concurrency.js';
import { InputFolders } from './inputFolders.js';
import { InputChecks, type AppContainers, type InputProbe } from './inputChecks.js';

export type { AppContainers, InputProbe } from './inputChecks.js';
import {
  dataContainer,
  jobLayout,
  userFilesLayout,
  writtenTo,
  type JobFilesLayout,
} from '../domain/jobLayout.js';
import type { BlobContainer, BlobContainers } from '../store/blobStore.js';
import type {
  PreparedJob,
  SettledTasks,
  StepFailure,
  StepResult,
  SubmitSummary,
} from '../orchestration/activities.js';

/** Batch takes at most 100 tasks per call; a chunk is one such call's worth. */
export const TASKS_PER_CHUNK = 100;

/** One archived output file. */
export interface OutputFile {
  /** `<taskId>/<path in the task's working directory>`. */
  path: string;
  taskId: string;
  size: number;
  contentType?: string;
  lastModified: string;
}

/** The graph of a job as the signal handlers need it: kept beside the plan. */
export interface StoredGraph {
  tasks: GraphTask[];
  order: string[];
}

export interface JobRunnerOptions {
  store: JobStore;
  compute: ComputeBackend;
  /** The jobs container: each job's plan, task outputs and outputs manifest (see `jobLayout`). */
  jobs: BlobContainer;
  /** The account's containers: the logs container, and input blobs to check they exist. */
  containers: BlobContainers;
  appContainers: AppContainers;
  /** Users' own files, `<owner>/<path>`, which `files://` inputs name. */
  uploadsContainer: string;
  limits: SpecLimits;
  defaultPool: string;
  defaultLogsContainer: string;
  /** The deployment's resource presets, by name, as at submission. */
  presets?: ReadonlyMap<string, Preset>;
  /** Storage URLs for Batch, valid until the given time. */
  locations: (expiresOn: Date) => Promise<DataLocations>;
  /** Jobs one owner may have on Batch at once; 0 for no limit. */
  /** Whether a job's task changes should be logged for subscribers; never, when absent. */
  logTaskEvents?: (job: { id: string; owner: string }) => Promise<boolean>;
  /** Checks `https://` inputs before a job runs; they are not checked without one. */
  httpsInputs?: InputProbe;
  /** Gives tasks' secret variables their values as they go to Batch. */
  secrets?: Pick<Secrets, 'resolve'>;
  /** Containers blob inputs may come from (besides the owner's job files); empty for any. */
  inputContainers?: readonly string[];
  now?: () => Date;
}

// A paused job keeps its Batch job (and its place in the account's quota).

// Without a job timeout, URLs handed to Batch must still outlive any plausible run and its retries.
const DEFAULT_URL_LIFETIME_MS = 30 * 24 * 60 * 60_000;
const MAX_EXIT_CODES = 100;

/**
 * The steps of running a job that touch storage and Batch. Each is safe to repeat, because
 * activities run at least once; each reports a failure that ends the job as a result, not an
 * exception, so only passing faults are retried.
 */
export class JobRunner {
  readonly #o: JobRunnerOptions;
  readonly #now: () => Date;
  readonly #folders: InputFolders;
  readonly #checks: InputChecks;

  constructor(options: JobRunnerOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#folders = new InputFolders(options.containers, options.uploadsContainer);
    this.#checks = new InputChecks({ ...options, folders: this.#folders });
  }

  /**
   * PROCESSING_INPUTS: expands the job again from its stored spec (the same pure expansion as at
   * submission; a template may have been deleted since), checks that every blob input exists and
   * may be read by the job's owner, records the tasks (PENDING when they wait on others, QUEUED
   * otherwise) and keeps the task graph for the signal handlers.
   */
  async processInputs(jobId: string): Promise<StepResult<{ job: PreparedJob }>> {
    const expanded = await this.#expand(jobId);
    if ('failure' in expanded) return { outcome: 'failed', failure: expanded.failure };
    const { job, owner } = expanded;
    const problems = await this.#checks.problems(jobId, owner, job);
    const { jobs, others } = this.#o.appContainers;
    if (
      job.logs.container !== this.#o.defaultLogsContainer &&
      (job.logs.container === jobs || others.includes(job.logs.container))
    ) {
      problems.push(`logs.container: the app's own container ${job.logs.container} cannot hold logs`);
    }
    // Logs and outputs share the job's container: outputs are under tasks/.
    if (job.logs.folder.split('/')[0] === 'tasks') {
      problems.push('logs.folder: tasks/ is where outputs go; name another folder');
    }
    if (problems.length > 0) {
      return {
        outcome: 'failed',
        failure: { condition: 'INVALID_INPUT', message: summarize('inputs are not usable', problems) },
      };
    }
    const byId = new Map(job.tasks.map((task) => [task.id, task as GraphTask]));
    await this.#o.store.putTasks(
      jobId,
      job.tasks.map((task) => ({ id: task.id, status: pendingOrQueued(task, byId, new Map()) })),
    );
    const graph: StoredGraph = { tasks: job.tasks.map(graphTask), order: job.order };
    await this.#o.jobs.writeJson(jobLayout.graph(jobId), graph);
    const layout: JobFilesLayout = { logs: job.logs, data: dataContainer(jobId) };
    await this.#o.jobs.writeJson(jobLayout.files(jobId), layout);
    return {
      outcome: 'done',
      job: {
        taskCount: job.tasks.length,
        pool: job.pool,
        owner,
        ...(job.timeoutMinutes !== undefined ? { timeoutMinutes: job.timeoutMinutes } : {}),
        ...(job.maxQueuedMinutes !== undefined ? { maxQueuedMinutes: job.maxQueuedMinutes } : {}),
        ...(job.maxBlockedMinutes !== undefined ? { maxBlockedMinutes: job.maxBlockedMinutes } : {}),
        completeWhenTasksFinish: job.completeWhenTasksFinish,
        allowCancelledTasks: job.allowCancelledTasks,
      },
    };
  }

  /**
   * STAGING_INPUTS: grants Batch access to the inputs (read-only URLs that outlive the job) and
   * writes the Batch plan: the job, and one blob per chunk of at most 100 tasks, so that every
   * submission activity's input and output stay small. Inputs are read in place, not copied.
   */
  async stageInputs(jobId: string): Promise<StepResult<{ chunks: number }>> {
    const expanded = await this.#expand(jobId);
    if ('failure' in expanded) return { outcome: 'failed', failure: expanded.failure };
    const { job, owner } = expanded;
    const lifetime =
      job.timeoutMinutes !== undefined
        ? job.timeoutMinutes * 60_000 * 2 + 24 * 60 * 60_000
        : DEFAULT_URL_LIFETIME_MS;
    const locations = await this.#o.locations(new Date(this.#now().getTime() + lifetime));
    const layout = await this.#layout(jobId, owner, job);
    // Batch does not create containers for output files: the upload would fail at the task's end.
    await this.#o.containers(layout.dataContainer).createIfNotExists();
    const plan = planBatchJob(jobId, await this.#folders.resolve(job, owner), locations, layout);
    await this.#o.jobs.writeJson(jobLayout.batchJob(jobId), plan.job);
    return { outcome: 'done', chunks: await this.#writeChunks(plan.tasks, (i) => jobLayout.chunk(jobId, i)) };
  }

  /** Writes a plan's tasks as chunks of at most 100, named by `name`; answers how many. */
  async #writeChunks(tasks: readonly ComputeTaskSpec[], name: (index: number) => string): Promise<number> {
    const chunks = Math.ceil(tasks.length / TASKS_PER_CHUNK);
    await forEachLimited(
      Array.from({ length: chunks }, (_, i) => i),
      16,
      (index) =>
        this.#o.jobs.writeJson(
          name(index),
          tasks.slice(index * TASKS_PER_CHUNK, (index + 1) * TASKS_PER_CHUNK),
        ),
    );
    return chunks;
  }

  /**
   * Writes the Batch plan of tasks added to an open job as the chunks of its `set`-th addition;
   * answers how many.
   */
  async planAddedTasks(jobId: string, owner: string, job: ExpandedJob, set: number): Promise<number> {
    const locations = await this.#o.locations(new Date(this.#now().getTime() + DEFAULT_URL_LIFETIME_MS));
    const plan = planBatchJob(
      jobId,
      await this.#folders.resolve(job, owner),
      locations,
      await this.#layout(jobId, owner, job),
    );
    return this.#writeChunks(plan.tasks, (i) => jobLayout.addedChunk(jobId, set, i));
  }

  /**
   * Where a job of `owner`'s keeps its files, for its Batch plan: its own container (or, for a job
   * run before there was one, where its files were), and where the jobs it resumes from wrote
   * the outputs its `fromTask` inputs read.
   */
  async #layout(jobId: string, owner: string, job: ExpandedJob): Promise<JobLayout> {
    const written = async (id: string) => {
      const layout = await this.#o.jobs.readJson<JobFilesLayout>(jobLayout.files(id));
      return layout ? writtenTo(layout, this.#o.jobs.name).outputs : dataContainer(id);
    };
    const others = new Set<string>();
    for (const task of job.tasks) {
      for (const input of task.inputs)
        if (input.kind === 'fromTask' && input.jobId && input.jobId !== jobId) others.add(input.jobId);
    }
    const outputs = new Map<string, string>();
    await forEachLimited([...others], 8, async (id) => void outputs.set(id, await written(id)));
    return {
      dataContainer: await written(jobId),
      outputsOf: (id) => outputs.get(id) ?? dataContainer(id),
      uploads: { container: this.#o.uploadsContainer, folder: userFilesLayout.folder(owner) },
    };
  }

  /** Blob and files inputs of `job`'s tasks that are missing or not the owner's, each with its problem. */
  inputProblems(jobId: string, owner: string, job: ExpandedJob): Promise<string[]> {
    return this.#checks.problems(jobId, owner, job);
  }

  /** The settings a job's spec is expanded with, as when it runs. */
  get expansion(): ExpansionSettings {
    return this.#o;
  }

  /** Whether every task of the job has ended, by its counts now. */
  async tasksAllDone(jobId: string): Promise<boolean> {
    const [job, counts] = await Promise.all([this.#o.store.getJob(jobId), this.#o.store.taskCounts(jobId)]);
    return job !== undefined && counts !== undefined && progressOf(counts, job.taskCount).allDone;
  }

  /**
   * STAGING_JOB: creates the Batch job on its pool (an existing one is fine). A missing or resizing
   * pool, the account's job quota and throttling hold the job (BLOCKED) instead of failing it.
   */
  async ensureBatchJob(jobId: string): Promise<StepResult<{ created: boolean }>> {
    try {
      // The priority is the record's: it may have changed since the plan was written.
      const priority = (await this.#o.store.getJob(jobId))?.priority ?? 0;
      const plan = await this.#readJson<ComputeJobSpec>(jobLayout.batchJob(jobId));
      const result = await this.#o.compute.ensureJob({ ...plan, priority });
      // A change made while the Batch job was being made found no job to change; the record has
      // the last word (and a job made by an earlier try may have an older priority).
      const now = (await this.#o.store.getJob(jobId))?.priority ?? priority;
      if (result === 'exists' || now !== priority) await this.#o.compute.setJobPriority(jobId, now);
      return { outcome: 'done', created: result === 'created' };
    } catch (error) {
      const result = stepFailure(error, 'BATCH_ERROR');
      // Waiting on the pool: what it has, and why it could not grow, is what the user needs.
      if (result.outcome === 'blocked' && result.code.startsWith('BATCH_POOL_')) {
        const pool = await this.describePool(jobId).catch(() => undefined);
        if (pool) return { ...result, message: `${result.message} (${pool})` };
      }
      return result;
    }
  }

  /**
   * SUBMITTING_JOB: adds chunks `[from, to)`; repeating it adds nothing twice (a task Batch already
   * has counts as done). Tasks Batch refuses are reported, not thrown: they fail the job.
   */
  async submitChunks(jobId: string, from: number, to: number, set?: number): Promise<SubmitSummary> {
    const summary: SubmitSummary = { added: 0, existing: 0, rejected: [] };
    for (let index = from; index < to; index++) {
      const chunk =
        set === undefined ? jobLayout.chunk(jobId, index) : jobLayout.addedChunk(jobId, set, index);
      const planned = await this.#readJson<PlannedTask[]>(chunk);
      const { tasks, missing } = await this.#withSecrets(jobId, planned);
      const report = await this.#o.compute.submitTasks(jobId, tasks);
      summary.added += report.added;
      summary.existing += report.existing;
      summary.rejected.push(...missing, ...report.rejected);
    }
    return summary;
  }

  /** The chunk's tasks with their secrets' values, read for the job's owner (the plan has names). */
  async #withSecrets(
    jobId: string,
    planned: PlannedTask[],
  ): Promise<{ tasks: ComputeTaskSpec[]; missing: SubmitSummary['rejected'] }> {
    if (!planned.some((task) => task.secretEnvironment)) return { tasks: planned, missing: [] };
    const job = await this.#o.store.getJob(jobId);
    if (!job) throw new NotFoundError(`job ${jobId} does not exist`, 'JOB_NOT_FOUND');
    return (this.#o.secrets ?? NO_SECRETS).resolve(job.owner, planned);
  }

  /** Lets the Batch job end by itself once its tasks have: only after the last chunk is in. */
  sealBatchJob(jobId: string): Promise<void> {
    return this.#o.compute.sealJob(jobId);
  }

  /**
   * Terminates, disables or enables the Batch job. A job Batch does not have (never created, or
   * deleted) needs no terminating; terminating an ended one changes nothing.
   */
  async controlBatchJob(jobId: string, action: 'terminate' | 'disable' | 'enable'): Promise<void> {
    const state = await this.#o.compute.getJob(jobId);
    if (!state) return;
    switch (action) {
      case 'terminate':
        if (state.state === 'completed' || state.state === 'terminating' || state.state === 'deleting')
          return;
        return this.#o.compute.terminateJob(jobId, 'cloudjobs');
      case 'disable':
        if (state.state === 'disabled' || state.state === 'disabling') return;
        return this.#o.compute.disableJob(jobId);
      case 'enable':
        if (state.state === 'active' || state.state === 'enabling') return;
        return this.#o.compute.enableJob(jobId);
    }
  }

  /**
   * Brings the task records up to date with Batch at the end of a job, then ends what never ran:
   * `leftover` is what a task that is not final becomes (CANCELLED when the job was cancelled or
   * timed out, SKIPPED when its dependencies failed). Returns the final counts and exit codes.
   */
  async settleTasks(jobId: string, leftover: 'CANCELLED' | 'SKIPPED'): Promise<SettledTasks> {
    const at = this.#now().toISOString();
    // The job's final event, recorded next, wakes the subscribers of what is logged here.
    const job = this.#o.logTaskEvents ? await this.#o.store.getJob(jobId) : undefined;
    const log = job !== undefined && (await this.#o.logTaskEvents!(job));
    const seen = new Map<string, TaskUpdate>();
    let continuation: string | undefined;
    do {
      const page: TaskPage = await this.#o.compute
        .listTasks(jobId, { pageSize: 1000, ...(continuation ? { continuation } : {}) })
        .catch((error: unknown) => {
          // A job that never reached Batch has no tasks there.
          if (isAppError(error) && error.code === 'BATCH_JOB_NOT_FOUND') return { tasks: [] };
          throw error;
        });
      for (const task of page.tasks) seen.set(task.id, taskUpdate(task, at));
      continuation = page.continuation;
    } while (continuation);
    if (seen.size > 0) await this.#o.store.updateTasks(jobId, [...seen.values()], { log });

    const remaining: TaskUpdate[] = [];
    const exitCodes: Record<string, number> = {};
    const cancelNotes = await this.#o.store.tasksCancelledAlone(jobId);
    let cancelledAlone = 0;
    let listing: string | undefined;
    do {
      const page = await this.#o.store.listTasks(jobId, {
        limit: 1000,
        ...(listing ? { continuation: listing } : {}),
      });
      for (const task of page.items) {
        if (!isFinalTask(task.status)) {
          remaining.push({ id: task.id, status: leftover, attempt: task.attempt, at });
        } else if (task.status === 'FAILED' && Object.keys(exitCodes).length < MAX_EXIT_CODES) {
          exitCodes[task.id] = task.exitCode ?? -1;
        } else if (task.status === 'CANCELLED' && cancelNotes.has(task.id)) {
          cancelledAlone++;
        }
      }
      listing = page.continuation;
    } while (listing);
    for (let i = 0; i < remaining.length; i += 1000) {
      await this.#o.store.updateTasks(jobId, remaining.slice(i, i + 1000), { log });
    }
    const counts = await this.#o.store.taskCounts(jobId);
    if (!counts) throw new NotFoundError(`job ${jobId} has no tasks recorded`, 'TASKS_NOT_FOUND');
    return { counts, exitCodes, cancelledAlone };
  }

  /**
   * ARCHIVING: lists what the tasks uploaded (`<jobId>/tasks/<taskId>/...`) and writes the job's
   * outputs manifest, `<jobId>/outputs.json`, which the outputs API serves.
   */
  /**
   * The job's pool as a user waiting on it needs to hear it: missing, or how many nodes it has of
   * those it asks for, and why it could not get more (Batch's resize errors).
   */
  async describePool(jobId: string): Promise<string> {
    const job = await this.#o.store.getJob(jobId);
    if (!job) throw new NotFoundError(`job ${jobId} does not exist`, 'JOB_NOT_FOUND');
    const pool = await this.#o.compute.getPool(job.pool);
    if (!pool) return `pool ${job.pool} does not exist`;
    const nodes =
      `pool ${pool.id} has ${pool.dedicatedNodes} of ${pool.targetDedicatedNodes} dedicated and ` +
      `${pool.lowPriorityNodes} of ${pool.targetLowPriorityNodes} Spot node(s)` +
      (pool.allocationState === 'steady' ? '' : ` (${pool.allocationState})`);
    const errors = pool.resizeErrors.map((error) => `${error.code}: ${error.message}`);
    return errors.length > 0 ? `${nodes}; resize failed: ${errors.join('; ')}` : nodes;
  }

  async archiveOutputs(jobId: string): Promise<{ files: number; bytes: number }> {
    const layout = await this.#o.jobs.readJson<JobFilesLayout>(jobLayout.files(jobId));
    const written = layout ? writtenTo(layout, this.#o.jobs.name) : undefined;
    const { files, bytes } = await listTaskOutputs(
      this.#o.containers(written?.outputs ?? this.#o.jobs.name),
      jobId,
    );
    // Logs the spec sent to a container of its own: copied there by the app, not written by tasks,
    // whose write URL reaches only the job's container. Safe to repeat (a copy overwrites).
    if (layout?.data && layout.logs.container !== this.#o.defaultLogsContainer) {
      const from = this.#o.containers(layout.data);
      const to = this.#o.containers(layout.logs.container);
      await to.createIfNotExists();
      const names: string[] = [];
      for await (const blob of from.list(`${jobId}/${layout.logs.folder}/`)) names.push(blob.name);
      await forEachLimited(names, 16, (name) => from.copyTo(name, to, name));
    }
    await this.#o.jobs.writeJson(jobLayout.outputsManifest(jobId), {
      files,
      bytes,
      archivedAt: this.#now().toISOString(),
    });
    return { files: files.length, bytes };
  }

  async #expand(jobId: string): Promise<{ job: ExpandedJob; owner: string } | { failure: StepFailure }> {
    const record = await this.#o.store.getJob(jobId);
    if (!record) throw new NotFoundError(`job ${jobId} does not exist`, 'JOB_NOT_FOUND');
    const spec = await this.#o.store.getSpec(jobId);
    try {
      const job = await expandSpec(this.#o, spec, jobId, record.owner);
      return { job, owner: record.owner };
    } catch (error) {
      // The spec was valid when submitted; a template deleted or unshared since can break it.
      if (error instanceof ValidationError) {
        const issues = error.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
        return { failure: { condition: 'INVALID_INPUT', message: `${error.message}: ${issues}` } };
      }
      throw error;
    }
  }

  /**
   * Of `jobIds`, those that have not ended: a job's slot is given back when it ends, so a holder
   * that ended (or was deleted) without giving it back holds it no more.
   */
  async activeJobs(jobIds: readonly string[]): Promise<string[]> {
    const active: string[] = [];
    await forEachLimited([...new Set(jobIds)], 16, async (id) => {
      const job = await this.#o.store.getJob(id);
      if (job && !isFinal(job.status)) active.push(id);
    });
    return jobIds.filter((id) => active.includes(id));
  }

  /** A plan document an earlier step wrote; its absence means the steps ran out of order. */
  async #readJson<T>(name: string): Promise<T> {
    const value = await this.#o.jobs.readJson<T>(name);
    if (value === undefined)
      throw new NotFoundError(`${name} is not in ${this.#o.jobs.name}`, 'PLAN_NOT_FOUND');
    return value;
  }

  /** The job's task graph, as processInputs kept it. */
  readGraph(jobId: string): Promise<StoredGraph> {
    return this.#readJson<StoredGraph>(jobLayout.graph(jobId));
  }
}

/** What a job's tasks have uploaded so far: `<jobId>/tasks/<taskId>/...` in the jobs container. */
export async function listTaskOutputs(
  jobs: BlobContainer,
  jobId: string,
): Promise<{ files: OutputFile[]; bytes: number }> {
  const prefix = jobLayout.taskOutputs(jobId);
  const files: OutputFile[] = [];
  let bytes = 0;
  for await (const blob of jobs.list(prefix)) {
    const path = blob.name.slice(prefix.length);
    bytes += blob.size;
    files.push({
      path,
      taskId: path.slice(0, path.indexOf('/')),
      size: blob.size,
      ...(blob.contentType ? { contentType: blob.contentType } : {}),
      lastModified: blob.lastModified.toISOString(),
    });
  }
  return { files, bytes };
}

/** A task state from Batch as an observation to record. */
export function taskUpdate(task: ComputeTaskState, at: string): TaskUpdate {
  const { status, attempt } = statusFromBatch({
    state: task.state,
    ...(task.result ? { result: task.result } : {}),
    ...(task.exitCode !== undefined ? { exitCode: task.exitCode } : {}),
    ...(task.failure ? { failureCode: task.failure.code } : {}),
    retryCount: task.retryCount,
    requeueCount: task.requeueCount,
  });
  const update: TaskUpdate = { id: task.id, status: status satisfies TaskStatus, attempt, at };
  if (task.exitCode !== undefined) update.exitCode = task.exitCode;
  if (task.failure && status !== 'SUCCEEDED')
    update.failure = { code: task.failure.code, message: task.failure.message };
  if (task.startTime) update.startedAt = task.startTime.toISOString();
  if (task.endTime && task.state === 'completed') update.endedAt = task.endTime.toISOString();
  return update;
}

function stepFailure(error: unknown, condition: JobCondition): StepResult<never> {
  if (!isAppError(error)) throw error;
  if (error.retry === 'blocked') {
    return {
      outcome: 'blocked',
      code: error.code,
      message: error.message,
      ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    };
  }
  // Passing faults are the orchestration's to retry; anything else will not get better.
  if (error.retry === 'backoff') throw error;
  return { outcome: 'failed', failure: { condition, message: `${error.code}: ${error.message}` } };
}

function summarize(what: string, problems: string[]): string {
  const shown = problems.slice(0, 10).join('; ');
  return `${what}: ${shown}${problems.length > 10 ? `; and ${problems.length - 10} more` : ''}`;
}

/** A task as the graph keeps it: what deciding who waits, who is skipped and what fails the job needs. */
export function graphTask(task: ExpandedTask): GraphTask {
  const { id, dependsOn, dependsOnRanges, runDependentsOnFailure, exitCodes } = task;
  return {
    id,
    dependsOn,
    dependsOnRanges,
    runDependentsOnFailure,
    ...(exitCodes?.runDependents.length ? { runDependents: exitCodes.runDependents } : {}),
    ...(exitCodes?.failJob.length ? { failJob: exitCodes.failJob } : {}),
  };
}

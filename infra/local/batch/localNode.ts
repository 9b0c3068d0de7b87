import { cpus } from 'node:os';
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { ComponentLogger } from '../host/logger.js';
import { parseDuration } from '../util/timespan.js';
import {
  ProcessRegistry,
  resetTaskDirectory,
  stageResourceFiles,
  taskDirectories,
  TaskAttempt,
  uploadOutputFiles,
  type TaskDirectories,
} from './executor.js';
import { ProcessLauncher } from './launcher.js';
import type { FailureInfo, PoolRecord } from './model.js';
import { poolSlots, transition } from './records.js';
import type { JournalRecord } from './stateJournal.js';
import { StagingError, type StorageAccess } from './storageAccess.js';
import { enqueueIfReady, type JobEntry, type TaskEntry } from './taskGraph.js';

/** What the node needs from the account it serves. */
export interface NodeHost {
  readonly pools: ReadonlyMap<string, PoolRecord>;
  readonly jobs: ReadonlyMap<string, JobEntry>;
  /** Journals a change; resolves once it is written. */
  persist(record: JournalRecord): Promise<void>;
  /** A task has completed: its dependents and its job learn of it. */
  taskCompleted(job: JobEntry, task: TaskEntry): Promise<void>;
  /** Keeps work the account must wait for when it stops. */
  track<T>(work: Promise<T>): Promise<T>;
}

export interface LocalNodeOptions {
  dataDir: string;
  storage: StorageAccess;
  logger: ComponentLogger;
  accountName: string;
  accountUrl: () => string;
}

function taskKey(jobId: string, taskId: string): string {
  return `${jobId.toLowerCase()}\u0000${taskId.toLowerCase()}`;
}

/** Asks a running attempt to stop, saying what the stop means for the task. */
export function stopAttempt(task: TaskEntry, intent: NonNullable<TaskEntry['stopIntent']>): void {
  task.stopIntent = intent;
  task.attempt?.stop();
}

/**
 * The one compute node behind every pool: it hands free slots to ready tasks, highest priority
 * job first, and runs each task as Batch does on a node (stage, run with retries and a wall
 * clock, upload outputs), reporting back to the account as the task's state changes.
 */
export class LocalNode {
  readonly root: string;
  readonly #o: LocalNodeOptions;
  readonly #host: NodeHost;
  readonly #processes: ProcessRegistry;
  readonly #launcher = new ProcessLauncher();
  /** Exit codes of task processes that ended while the service was down, by job and task. */
  readonly #ended = new Map<string, number>();
  /** The node's size, as Batch reports it to every task (reading it costs a system call). */
  readonly #cpus = String(cpus().length);
  #scheduled = false;
  #stopped = false;

  constructor(options: LocalNodeOptions, host: NodeHost) {
    this.#o = options;
    this.#host = host;
    this.root = path.join(options.dataDir, 'nodes', 'local-node');
    this.#processes = new ProcessRegistry(path.join(options.dataDir, 'running'));
  }

  /**
   * Lays out the node's directories and reads what an earlier run left: task processes that
   * ended while it was down (see {@link endedWhileAway}) and those still running, which are killed.
   */
  async prepare(): Promise<void> {
    await mkdir(path.join(this.root, 'shared'), { recursive: true });
    await mkdir(path.join(this.root, 'startup'), { recursive: true });
    await this.#processes.prepare();
    const { ended, killed } = await this.#processes.recover();
    for (const process of ended) this.#ended.set(taskKey(process.job, process.task), process.exitCode);
    if (killed > 0)
      this.#o.logger.info(`killed ${killed} task process group(s) left running by an earlier run`);
    if (ended.length > 0)
      this.#o.logger.info(
        `${ended.length} task process(es) ended while the service was down; they are not run again`,
      );
  }

  /** The exit code of a task's process that ended while the service was down, if it did. */
  endedWhileAway(jobId: string, taskId: string): number | undefined {
    return this.#ended.get(taskKey(jobId, taskId));
  }

  /**
   * Finishes a task whose process ended while the service was down, as if it had seen it end:
   * its outputs are uploaded and it completes, or it runs again if it failed with retries left.
   * On Batch a node's tasks carry on whatever happens to the service that submitted them.
   */
  resume(job: JobEntry, task: TaskEntry, exitCode: number): void {
    this.#ended.delete(taskKey(job.record.id, task.record.spec.id));
    this.#occupy(job, task, () => this.#resumed(job, task, exitCode));
  }

  /** The task holds its slots while `work` runs; the account waits for it when it stops. */
  #occupy(job: JobEntry, task: TaskEntry, work: () => Promise<void>): void {
    job.running.add(task);
    task.run = this.#host.track(
      work()
        .catch((error: unknown) => this.#runFailed(job, task, error))
        .finally(() => {
          task.run = undefined;
          job.running.delete(task);
        }),
    );
  }

  async #resumed(job: JobEntry, task: TaskEntry, exitCode: number): Promise<void> {
    const exec = task.record.executionInfo;
    const maxRetries = task.record.spec.constraints?.maxTaskRetryCount ?? job.record.maxTaskRetryCount;
    if (exitCode !== 0 && (maxRetries === -1 || exec.retryCount < maxRetries)) {
      exec.retryCount++;
      exec.lastRetryTime = new Date().toISOString();
      job.running.delete(task);
      transition(task.record, 'active');
      await this.#persistTask(job, task);
      enqueueIfReady(job, task);
      this.scheduleSoon();
      return;
    }
    const dirs = taskDirectories(this.root, job.record.id, task.record.spec.id);
    await this.#complete(job, task, dirs, exitCode, undefined);
  }

  /** Starts no more tasks; those running are the account's to stop. */
  stop(): void {
    this.#stopped = true;
  }

  /** Lets go of the process launcher, once the attempts it started have been seen to end. */
  close(): Promise<void> {
    return this.#launcher.close();
  }

  /** The slots of a pool its running tasks hold. */
  usedSlots(pool: PoolRecord): number {
    let used = 0;
    for (const job of this.#host.jobs.values()) {
      if (job.record.poolId.toLowerCase() !== pool.id.toLowerCase()) continue;
      for (const task of job.running) used += task.slots;
    }
    return used;
  }

  /**
   * Requeues the newest running tasks of a pool that has fewer slots than they hold, as Batch
   * does for nodes removed with nodeDeallocationOption "requeue" (the default).
   */
  requeueExcess(pool: PoolRecord): void {
    const excess = this.usedSlots(pool) - poolSlots(pool);
    if (excess <= 0) return;
    const running = [...this.#host.jobs.values()]
      .filter((j) => j.record.poolId.toLowerCase() === pool.id.toLowerCase())
      .flatMap((j) => [...j.running])
      .sort((a, b) =>
        (b.record.executionInfo.startTime ?? '').localeCompare(a.record.executionInfo.startTime ?? ''),
      );
    let freed = 0;
    for (const task of running) {
      if (freed >= excess) break;
      freed += task.slots;
      stopAttempt(task, { kind: 'requeue' });
    }
  }

  /** Schedules once, after the current turn: many changes in one turn need one pass. */
  scheduleSoon(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#stopped) return;
    for (const pool of this.#host.pools.values()) {
      let free = poolSlots(pool) - this.usedSlots(pool);
      if (free <= 0) continue;
      const jobs = [...this.#host.jobs.values()]
        .filter((j) => j.record.state === 'active' && j.record.poolId.toLowerCase() === pool.id.toLowerCase())
        .sort(
          (a, b) =>
            b.record.priority - a.record.priority ||
            a.record.creationTime.localeCompare(b.record.creationTime),
        );
      for (const job of jobs) {
        free = this.#fill(job, pool, free);
        if (free <= 0) break;
      }
    }
  }

  /** Starts the job's ready tasks in the free slots; returns the slots still free. */
  #fill(job: JobEntry, pool: PoolRecord, free: number): number {
    while (free > 0 && job.readyHead < job.ready.length) {
      const task = job.ready[job.readyHead]!;
      if (task.record.state !== 'active' || !task.queued) {
        job.readyHead++;
        continue;
      }
      if (task.slots > pool.taskSlotsPerNode) {
        // Never fits on a node of this pool: it waits, as on Batch.
        job.readyHead++;
        continue;
      }
      if (task.slots > free) break;
      job.readyHead++;
      task.queued = false;
      free -= task.slots;
      this.#occupy(job, task, () => this.#run(job, task, pool));
    }
    if (job.readyHead > 1024 && job.readyHead * 2 > job.ready.length) {
      job.ready = job.ready.slice(job.readyHead);
      job.readyHead = 0;
    }
    return free;
  }

  async #run(job: JobEntry, task: TaskEntry, pool: PoolRecord): Promise<void> {
    const record = task.record;
    const exec = record.executionInfo;
    const dirs = taskDirectories(this.root, job.record.id, record.spec.id);
    const time = new Date().toISOString();
    transition(record, 'running');
    exec.startTime = time;
    record.firstStartTime ??= time;
    delete exec.endTime;
    delete exec.exitCode;
    delete exec.failureInfo;
    delete exec.result;
    task.stopIntent = undefined;
    await this.#persistTask(job, task);

    const attempts = await this.#attempts(job, task, pool, dirs);
    try {
      await this.#afterAttempts(job, task, dirs, attempts);
    } finally {
      if (attempts.pid !== undefined) await this.#processes.remove(attempts.pid);
    }
  }

  async #afterAttempts(
    job: JobEntry,
    task: TaskEntry,
    dirs: TaskDirectories,
    attempts: { exitCode?: number; failureInfo?: FailureInfo },
  ): Promise<void> {
    const record = task.record;
    const exec = record.executionInfo;
    const exitCode = attempts.exitCode;
    let failureInfo = attempts.failureInfo;

    // Set from outside while the attempt ran (termination, requeue).
    const intent = task.stopIntent;
    if (intent?.kind === 'requeue') {
      job.running.delete(task);
      transition(record, 'active');
      exec.requeueCount++;
      exec.lastRequeueTime = new Date().toISOString();
      delete exec.startTime;
      task.stopIntent = undefined;
      await this.#persistTask(job, task);
      enqueueIfReady(job, task);
      this.scheduleSoon();
      return;
    }
    if (intent?.kind === 'terminate') failureInfo = intent.failure;
    await this.#complete(job, task, dirs, exitCode, failureInfo);
  }

  /** Uploads a task's outputs and completes it, as the node does when its process has ended. */
  async #complete(
    job: JobEntry,
    task: TaskEntry,
    dirs: TaskDirectories,
    exitCode: number | undefined,
    failure: FailureInfo | undefined,
  ): Promise<void> {
    const record = task.record;
    const exec = record.executionInfo;
    let failureInfo = failure;
    if (exitCode !== undefined && exitCode !== 0 && !failureInfo) {
      failureInfo = {
        category: 'usererror',
        code: 'FailureExitCode',
        message: 'The task exited with an exit code representing a failure',
      };
    }
    const succeeded = !failureInfo && exitCode === 0;
    try {
      await uploadOutputFiles(this.#o.storage, record.spec, dirs.workingDir, succeeded);
    } catch (error) {
      if (!(error instanceof StagingError)) throw error;
      failureInfo ??= error.failureInfo;
    }
    exec.exitCode = exitCode;
    if (exitCode === undefined) delete exec.exitCode;
    if (failureInfo) exec.failureInfo = failureInfo;
    exec.result = failureInfo ? 'failure' : 'success';
    transition(record, 'completed');
    exec.endTime = record.stateTransitionTime;
    task.stopIntent = undefined;
    await this.#persistTask(job, task);
    job.running.delete(task);
    await this.#host.taskCompleted(job, task);
    this.scheduleSoon();
  }

  /**
   * Stages the task's files and runs it, again after a failing exit code while retries remain,
   * until it succeeds, fails for good, runs out of wall clock or is stopped.
   */
  async #attempts(
    job: JobEntry,
    task: TaskEntry,
    pool: PoolRecord,
    dirs: TaskDirectories,
  ): Promise<{ exitCode?: number; failureInfo?: FailureInfo; pid?: number }> {
    const record = task.record;
    const exec = record.executionInfo;
    const maxRetries = record.spec.constraints?.maxTaskRetryCount ?? job.record.maxTaskRetryCount;
    const wallClock = record.spec.constraints?.maxWallClockTime;
    const deadline =
      wallClock && record.firstStartTime
        ? Date.parse(record.firstStartTime) + parseDuration(wallClock)
        : undefined;
    try {
      // Resource files need the directory before the process starts; otherwise the launcher lays
      // it out, off this busy event loop.
      let fresh = (record.spec.resourceFiles ?? []).length === 0;
      if (!fresh) {
        await resetTaskDirectory(dirs);
        await stageResourceFiles(this.#o.storage, record.spec, dirs.workingDir);
      }
      for (;;) {
        const attempt = new TaskAttempt({
          task: record.spec,
          dirs,
          env: this.#environment(job, task, pool, dirs),
          ...(deadline !== undefined ? { deadline } : {}),
          processes: this.#processes,
          launcher: this.#launcher,
          owner: { job: job.record.id, task: record.spec.id },
          fresh,
        });
        fresh = false;
        task.attempt = attempt;
        if (task.stopIntent) attempt.stop();
        const { exitCode, failureInfo, stoppedBy, pid } = await attempt.done;
        const ran = pid !== undefined ? { pid } : {};
        if (stoppedBy === 'stop' || task.stopIntent)
          return { exitCode, ...(failureInfo ? { failureInfo } : {}), ...ran };
        if (stoppedBy === 'wallclock') {
          return {
            exitCode,
            ...ran,
            failureInfo: {
              category: 'usererror',
              code: 'MaxWallClockTimeExpiry',
              message: `The task ran longer than its maximum wall clock time (${wallClock}) and was killed`,
            },
          };
        }
        if (exitCode === 0 || failureInfo || (maxRetries !== -1 && exec.retryCount >= maxRetries))
          return { exitCode, ...(failureInfo ? { failureInfo } : {}), ...ran };
        exec.retryCount++;
        exec.lastRetryTime = new Date().toISOString();
        await this.#persistTask(job, task);
        if (pid !== undefined) await this.#processes.remove(pid);
      }
    } catch (error) {
      if (!(error instanceof StagingError)) throw error;
      return { failureInfo: error.failureInfo };
    } finally {
      task.attempt = undefined;
    }
  }

  /**
   * A task the node could not run (its journal record or its directories could not be written)
   * fails, as on Batch, rather than staying running for ever and holding its job open.
   */
  async #runFailed(job: JobEntry, task: TaskEntry, error: unknown): Promise<void> {
    this.#o.logger.error(`task ${task.record.spec.id} of job ${job.record.id} could not be run`, error);
    task.attempt = undefined;
    job.running.delete(task);
    const record = task.record;
    if (record.state === 'running') {
      record.executionInfo.failureInfo = {
        category: 'servererror',
        code: 'TaskFailedToRun',
        message: `the node could not run the task: ${error instanceof Error ? error.message : String(error)}`,
      };
      record.executionInfo.result = 'failure';
      transition(record, 'completed');
      record.executionInfo.endTime = record.stateTransitionTime;
      await this.#persistTask(job, task).catch(() => undefined);
    }
    await this.#host.taskCompleted(job, task).catch(() => undefined);
    this.scheduleSoon();
  }

  #persistTask(job: JobEntry, task: TaskEntry): Promise<void> {
    return this.#host.persist({ t: 'tasks', job: job.record.id, tasks: [task.record] });
  }

  /** The environment Batch gives a task: the node's and task's AZ_BATCH_* variables and its settings. */
  #environment(
    job: JobEntry,
    task: TaskEntry,
    pool: PoolRecord,
    dirs: TaskDirectories,
  ): Record<string, string> {
    const env: Record<string, string> = {};
    for (const name of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER', 'SHELL']) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, {
      AZ_BATCH_ACCOUNT_NAME: this.#o.accountName,
      AZ_BATCH_ACCOUNT_URL: this.#o.accountUrl(),
      AZ_BATCH_POOL_ID: pool.id,
      AZ_BATCH_NODE_ID: 'local-node',
      AZ_BATCH_NODE_IS_DEDICATED: 'true',
      AZ_BATCH_NODE_ROOT_DIR: this.root,
      AZ_BATCH_NODE_SHARED_DIR: path.join(this.root, 'shared'),
      AZ_BATCH_NODE_STARTUP_DIR: path.join(this.root, 'startup'),
      AZ_BATCH_JOB_ID: job.record.id,
      AZ_BATCH_TASK_ID: task.record.spec.id,
      AZ_BATCH_TASK_DIR: dirs.taskDir,
      AZ_BATCH_TASK_WORKING_DIR: dirs.workingDir,
      AZ_BATCH_TASK_USER: process.env.USER ?? 'batch',
      AZ_BATCH_RESERVED_SLOTS: String(task.slots),
      AZ_BATCH_CPUS: this.#cpus,
    });
    for (const setting of job.record.commonEnvironmentSettings) env[setting.name] = setting.value ?? '';
    for (const setting of task.record.spec.environmentSettings ?? []) env[setting.name] = setting.value ?? '';
    return env;
  }
}

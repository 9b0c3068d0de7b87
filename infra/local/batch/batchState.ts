import path from 'node:path';
import { rm } from 'node:fs/promises';
import type { ComponentLogger } from '../host/logger.js';
import { parseDuration } from '../util/timespan.js';
import { BatchServiceError, invalidProperty, notFound } from './errors.js';
import { LocalNode, stopAttempt } from './localNode.js';
import {
  checkId,
  newEtag,
  type JobAddParameter,
  type JobRecord,
  type PoolAddParameter,
  type PoolRecord,
  type TaskAddParameter,
  type TaskRecord,
} from './model.js';
import {
  checkTaskDependencies,
  initialPoolRecord,
  newJobRecord,
  newPoolRecord,
  newTaskRecord,
  setAllocation,
  taskEnded,
  transition,
} from './records.js';
import { StateJournal, type JournalRecord, type Snapshot } from './stateJournal.js';
import type { StorageAccess } from './storageAccess.js';
import {
  countTasks,
  linkTask,
  newJobEntry,
  releaseDependents,
  type JobEntry,
  type TaskCounts,
  type TaskEntry,
} from './taskGraph.js';

export type { JobEntry, TaskEntry } from './taskGraph.js';

export interface BatchStateOptions {
  dataDir: string;
  storage: StorageAccess;
  logger: ComponentLogger;
  /** Pools to create on first start. */
  initialPools: Array<{ id: string; nodes: number; slotsPerNode: number }>;
  resizeDelayMs: number;
  activeJobQuota: number;
  accountName: string;
  accountUrl: () => string;
}

const now = () => new Date().toISOString();

/**
 * The local Batch account: pools as task slots, jobs and tasks with Batch's states and rules
 * (dependencies and their actions, retries, wall clock limits, job completion), tasks run as
 * local processes on one {@link LocalNode}, every change journaled so a restart resumes where
 * the service stopped.
 */
export class BatchState {
  readonly pools = new Map<string, PoolRecord>();
  readonly jobs = new Map<string, JobEntry>();
  readonly #o: BatchStateOptions;
  readonly #journal: StateJournal;
  readonly #node: LocalNode;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #work = new Set<Promise<unknown>>();
  #stopped = false;

  constructor(options: BatchStateOptions) {
    this.#o = options;
    this.#journal = new StateJournal(options.dataDir, () => this.#snapshot(), options.logger);
    this.#node = new LocalNode(options, {
      pools: this.pools,
      jobs: this.jobs,
      persist: (record) => this.#persist(record),
      taskCompleted: (job, task) => this.#afterCompletion(job, task),
      track: (work) => this.#track(work),
    });
  }

  get nodeRoot(): string {
    return this.#node.root;
  }

  async start(): Promise<void> {
    await this.#node.prepare();
    const recovered = await this.#journal.load();
    for (const [key, pool] of recovered.pools) this.pools.set(key, pool);
    if (recovered.empty) await this.#createInitialPools();
    await this.#finishPoolTransitions();
    await this.#recoverJobs(recovered.jobs);
    const unfinished = [...this.jobs.values()].reduce(
      (n, j) => n + j.order.filter((t) => t.record.state !== 'completed').length,
      0,
    );
    if (unfinished > 0)
      this.#o.logger.info(`resuming ${unfinished} unfinished task(s) in ${this.jobs.size} job(s)`);
    this.#node.scheduleSoon();
  }

  async #createInitialPools(): Promise<void> {
    for (const pool of this.#o.initialPools) {
      const record = initialPoolRecord(pool);
      this.pools.set(pool.id.toLowerCase(), record);
      await this.#persist({ t: 'pool', pool: record });
    }
  }

  /** Whatever a pool was in the middle of when the service stopped finishes now. */
  async #finishPoolTransitions(): Promise<void> {
    for (const pool of [...this.pools.values()]) {
      if (pool.state === 'deleting') {
        this.pools.delete(pool.id.toLowerCase());
        await this.#persist({ t: 'pool-', id: pool.id });
      } else if (pool.allocationState !== 'steady') {
        this.#finishResize(pool);
      }
    }
  }

  /**
   * Rebuilds the jobs and their task graphs. Tasks whose process ended while the service was
   * down finish as they ended; those still running when it went down are requeued, as Batch
   * requeues the tasks of a node it lost; jobs mid-transition finish it.
   */
  async #recoverJobs(jobs: Map<string, { job: JobRecord; tasks: Map<string, TaskRecord> }>): Promise<void> {
    const ended: Array<{ entry: JobEntry; task: TaskRecord; exitCode: number }> = [];
    for (const { job, tasks } of jobs.values()) {
      const entry = newJobEntry(job);
      this.jobs.set(job.id.toLowerCase(), entry);
      const requeued: TaskRecord[] = [];
      for (const task of tasks.values()) {
        const exitCode =
          task.state === 'running' ? this.#node.endedWhileAway(job.id, task.spec.id) : undefined;
        if (exitCode !== undefined) {
          ended.push({ entry, task, exitCode });
        } else if (task.state === 'running' || task.state === 'preparing') {
          transition(task, 'active');
          task.executionInfo.requeueCount++;
          task.executionInfo.lastRequeueTime = now();
          requeued.push(task);
        }
        linkTask(entry, task);
      }
      if (requeued.length > 0) await this.#persist({ t: 'tasks', job: job.id, tasks: requeued });
    }
    for (const { entry, task, exitCode } of ended) {
      this.#node.resume(entry, entry.tasks.get(task.spec.id.toLowerCase())!, exitCode);
    }
    for (const entry of this.jobs.values()) {
      const job = entry.record;
      if (job.state === 'deleting') await this.#deleteNow(entry);
      else if (job.state === 'terminating') await this.#finishTermination(entry);
      else if (job.state === 'disabling') await this.#setJobState(entry, 'disabled');
      else if (job.state === 'enabling') await this.#setJobState(entry, 'active');
      else {
        this.#armJobWallClock(entry);
        await this.#maybeComplete(entry);
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#node.stop();
    for (const timer of this.#timers) clearTimeout(timer);
    for (const job of this.jobs.values()) clearTimeout(job.wallClock);
    // Running tasks go back to the queue, to run again at the next start, as after a node loss;
    // their processes are killed so nothing keeps running unowned.
    for (const job of this.jobs.values())
      for (const task of job.running) stopAttempt(task, { kind: 'requeue' });
    await Promise.allSettled([...this.#work]);
    await this.#node.close();
    await this.#journal.close();
  }

  // ---- persistence ----

  #persist(record: JournalRecord): Promise<void> {
    return this.#journal.append(record);
  }

  #snapshot(): Snapshot {
    return {
      pools: [...this.pools.values()],
      jobs: [...this.jobs.values()].map((j) => ({ job: j.record, tasks: j.order.map((t) => t.record) })),
    };
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#work.add(work);
    void work.finally(() => this.#work.delete(work)).catch(() => undefined);
    return work;
  }

  #later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#stopped) action();
    }, ms);
    this.#timers.add(timer);
  }

  // ---- pools ----

  getPool(id: string): PoolRecord {
    const pool = this.pools.get(id.toLowerCase());
    if (!pool || pool.state === 'deleting') throw notFound('PoolNotFound', 'pool');
    return pool;
  }

  async addPool(spec: PoolAddParameter): Promise<PoolRecord> {
    checkId('pool', spec.id);
    if (this.pools.has(spec.id.toLowerCase()))
      throw new BatchServiceError(409, 'PoolExists', 'The specified pool already exists.');
    const pool = newPoolRecord(spec);
    this.pools.set(pool.id.toLowerCase(), pool);
    await this.#persist({ t: 'pool', pool });
    this.#later(this.#o.resizeDelayMs, () => this.#finishResize(pool));
    return pool;
  }

  async resizePool(
    id: string,
    targetDedicated: number | undefined,
    targetLowPriority: number | undefined,
  ): Promise<void> {
    const pool = this.getPool(id);
    if (pool.allocationState !== 'steady') {
      throw new BatchServiceError(
        409,
        'PoolNotSteady',
        'The specified pool is not in a steady allocation state.',
      );
    }
    pool.targetDedicatedNodes = targetDedicated ?? pool.targetDedicatedNodes;
    pool.targetLowPriorityNodes = targetLowPriority ?? pool.targetLowPriorityNodes;
    setAllocation(pool, 'resizing');
    await this.#persist({ t: 'pool', pool });
    this.#later(this.#o.resizeDelayMs, () => this.#finishResize(pool));
  }

  stopResize(id: string): void {
    const pool = this.getPool(id);
    if (pool.allocationState !== 'resizing') return;
    pool.targetDedicatedNodes = pool.currentDedicatedNodes;
    pool.targetLowPriorityNodes = pool.currentLowPriorityNodes;
    this.#finishResize(pool);
  }

  #finishResize(pool: PoolRecord): void {
    if (this.pools.get(pool.id.toLowerCase()) !== pool || pool.state === 'deleting') return;
    pool.currentDedicatedNodes = pool.targetDedicatedNodes;
    pool.currentLowPriorityNodes = pool.targetLowPriorityNodes;
    setAllocation(pool, 'steady');
    void this.#persist({ t: 'pool', pool });
    this.#node.requeueExcess(pool);
    this.#node.scheduleSoon();
  }

  async patchPool(id: string, body: Record<string, unknown>): Promise<void> {
    const pool = this.getPool(id);
    const { metadata, startTask } = body as { metadata?: unknown; startTask?: unknown };
    if (metadata !== undefined) pool.extra.metadata = metadata;
    if (startTask !== undefined) pool.extra.startTask = startTask;
    pool.lastModified = now();
    pool.eTag = newEtag();
    await this.#persist({ t: 'pool', pool });
  }

  async deletePool(id: string): Promise<void> {
    const pool = this.getPool(id);
    pool.state = 'deleting';
    pool.stateTransitionTime = now();
    pool.eTag = newEtag();
    await this.#persist({ t: 'pool', pool });
    for (const job of this.jobs.values()) {
      if (job.record.poolId.toLowerCase() !== pool.id.toLowerCase()) continue;
      for (const task of job.running) stopAttempt(task, { kind: 'requeue' });
    }
    this.#later(this.#o.resizeDelayMs, () => {
      this.pools.delete(pool.id.toLowerCase());
      void this.#persist({ t: 'pool-', id: pool.id });
    });
  }

  // ---- jobs ----

  getJob(id: string): JobEntry {
    const job = this.jobs.get(id.toLowerCase());
    if (!job) throw notFound('JobNotFound', 'job');
    return job;
  }

  async addJob(spec: JobAddParameter): Promise<JobRecord> {
    checkId('job', spec.id);
    if (!spec.poolInfo.poolId) {
      throw invalidProperty(
        'poolInfo',
        'the local Batch service runs jobs on existing pools only (poolInfo.poolId)',
      );
    }
    if (this.jobs.has(spec.id.toLowerCase()))
      throw new BatchServiceError(409, 'JobExists', 'The specified job already exists.');
    const active = [...this.jobs.values()].filter(
      (j) => j.record.state !== 'completed' && j.record.state !== 'deleting',
    ).length;
    if (active >= this.#o.activeJobQuota) {
      throw new BatchServiceError(
        409,
        'ActiveJobAndScheduleQuotaReached',
        'The account has reached its quota of active jobs and job schedules.',
      );
    }
    const record = newJobRecord(spec, spec.poolInfo.poolId);
    const entry = newJobEntry(record);
    this.jobs.set(spec.id.toLowerCase(), entry);
    await this.#persist({ t: 'job', job: record });
    this.#armJobWallClock(entry);
    // A job that should end once its tasks do, and has none, is complete at once.
    await this.#maybeComplete(entry);
    return record;
  }

  async patchJob(
    id: string,
    patch: {
      priority?: number;
      onAllTasksComplete?: 'noaction' | 'terminatejob';
      maxWallClockTime?: string;
      maxTaskRetryCount?: number;
      metadata?: Array<{ name: string; value: string }>;
    },
  ): Promise<void> {
    const entry = this.getJob(id);
    const job = entry.record;
    if (job.state === 'completed' || job.state === 'terminating') {
      throw new BatchServiceError(409, 'JobCompleted', 'The specified job is already in a completed state.');
    }
    if (patch.onAllTasksComplete === 'noaction' && job.onAllTasksComplete === 'terminatejob') {
      throw invalidProperty(
        'onAllTasksComplete',
        'onAllTasksComplete cannot be changed back from terminatejob to noaction',
      );
    }
    if (patch.priority !== undefined) job.priority = patch.priority;
    if (patch.onAllTasksComplete) job.onAllTasksComplete = patch.onAllTasksComplete;
    if (patch.maxWallClockTime) job.maxWallClockTime = patch.maxWallClockTime;
    if (patch.maxTaskRetryCount !== undefined) job.maxTaskRetryCount = patch.maxTaskRetryCount;
    if (patch.metadata) job.metadata = patch.metadata;
    job.lastModified = now();
    job.eTag = newEtag();
    await this.#persist({ t: 'job', job });
    this.#armJobWallClock(entry);
    await this.#maybeComplete(entry);
    this.#node.scheduleSoon();
  }

  #armJobWallClock(entry: JobEntry): void {
    clearTimeout(entry.wallClock);
    const limit = entry.record.maxWallClockTime;
    if (!limit || entry.record.state === 'completed') return;
    const due = Date.parse(entry.record.creationTime) + parseDuration(limit);
    // setTimeout holds about 24.8 days; a job limit past that is checked again later.
    entry.wallClock = setTimeout(
      () => {
        if (Date.now() >= due)
          void this.#track(
            this.terminateJob(entry.record.id, 'MaxWallClockTimeExpiry').catch(() => undefined),
          );
        else this.#armJobWallClock(entry);
      },
      Math.min(2 ** 31 - 1, Math.max(0, due - Date.now())),
    );
  }

  async #setJobState(entry: JobEntry, state: JobRecord['state']): Promise<void> {
    const job = entry.record;
    transition(job, state);
    await this.#persist({ t: 'job', job });
  }

  async terminateJob(id: string, reason = 'UserTerminate'): Promise<void> {
    const entry = this.getJob(id);
    const job = entry.record;
    if (job.state === 'completed')
      throw new BatchServiceError(409, 'JobCompleted', 'The specified job is already in a completed state.');
    if (job.state === 'terminating') return;
    if (job.state === 'deleting')
      throw new BatchServiceError(409, 'JobBeingDeleted', 'The specified job is being deleted.');
    job.terminateReason = reason;
    await this.#setJobState(entry, 'terminating');
    await this.#finishTermination(entry);
  }

  async #finishTermination(entry: JobEntry): Promise<void> {
    const job = entry.record;
    clearTimeout(entry.wallClock);
    const failure = taskEnded(
      `The task was terminated because its job ended (${job.terminateReason ?? 'UserTerminate'})`,
    );
    const stopping = [...entry.running].map((task) => {
      stopAttempt(task, { kind: 'terminate', failure });
      return task;
    });
    // Tasks that never started are completed as they are.
    const completed: TaskRecord[] = [];
    for (const task of entry.order) {
      if (task.record.state === 'active' && !entry.running.has(task)) {
        transition(task.record, 'completed');
        task.record.executionInfo.endTime = task.record.stateTransitionTime;
        completed.push(task.record);
      }
    }
    if (completed.length > 0) await this.#persist({ t: 'tasks', job: job.id, tasks: completed });
    await Promise.allSettled(stopping.flatMap((t) => (t.attempt ? [t.attempt.done] : [])));
    await this.#waitIdle(entry);
    job.endTime = now();
    await this.#setJobState(entry, 'completed');
  }

  /** Waits for the job's running tasks to leave `running` (their runs, not just their processes). */
  async #waitIdle(entry: JobEntry): Promise<void> {
    while (entry.running.size > 0) {
      const runs = [...entry.running].flatMap((t) => (t.run ? [t.run] : []));
      if (runs.length === 0) return;
      await Promise.allSettled(runs);
    }
  }

  async disableJob(id: string, mode: 'requeue' | 'terminate' | 'wait'): Promise<void> {
    const entry = this.getJob(id);
    const state = entry.record.state;
    if (state === 'completed' || state === 'terminating' || state === 'deleting') {
      throw new BatchServiceError(409, 'JobCompleted', 'The specified job is already in a completed state.');
    }
    if (state === 'disabled' || state === 'disabling') return;
    await this.#setJobState(entry, 'disabling');
    if (mode !== 'wait') {
      const failure = taskEnded('The task was terminated because its job was disabled');
      for (const task of [...entry.running])
        stopAttempt(task, mode === 'requeue' ? { kind: 'requeue' } : { kind: 'terminate', failure });
      await Promise.allSettled([...entry.running].flatMap((t) => (t.attempt ? [t.attempt.done] : [])));
    }
    await this.#setJobState(entry, 'disabled');
  }

  async enableJob(id: string): Promise<void> {
    const entry = this.getJob(id);
    const state = entry.record.state;
    if (state === 'completed' || state === 'terminating' || state === 'deleting') {
      throw new BatchServiceError(409, 'JobCompleted', 'The specified job is already in a completed state.');
    }
    if (state === 'active' || state === 'enabling') return;
    await this.#setJobState(entry, 'enabling');
    await this.#setJobState(entry, 'active');
    this.#node.scheduleSoon();
  }

  async deleteJob(id: string): Promise<void> {
    const entry = this.getJob(id);
    if (entry.record.state === 'deleting') return;
    await this.#setJobState(entry, 'deleting');
    void this.#track(this.#deleteNow(entry));
  }

  async #deleteNow(entry: JobEntry): Promise<void> {
    clearTimeout(entry.wallClock);
    const failure = taskEnded('The task was terminated because its job was deleted');
    for (const task of [...entry.running]) stopAttempt(task, { kind: 'terminate', failure });
    await this.#waitIdle(entry);
    this.jobs.delete(entry.record.id.toLowerCase());
    await this.#persist({ t: 'job-', id: entry.record.id });
    await rm(path.join(this.#node.root, 'workitems', entry.record.id), { recursive: true, force: true });
  }

  // ---- tasks ----

  getTask(jobId: string, taskId: string): TaskEntry {
    const task = this.getJob(jobId).tasks.get(taskId.toLowerCase());
    if (!task) throw notFound('TaskNotFound', 'task');
    return task;
  }

  /**
   * Adds tasks (one `addtaskcollection` call); returns per task whether it was added or why not.
   * All the added tasks are journaled in one record before this resolves.
   */
  async addTasks(
    jobId: string,
    specs: TaskAddParameter[],
  ): Promise<Array<{ spec: TaskAddParameter; error?: BatchServiceError }>> {
    const entry = this.getJob(jobId);
    const state = entry.record.state;
    if (state === 'completed' || state === 'terminating') {
      throw new BatchServiceError(409, 'JobCompleted', 'The specified job is already in a completed state.');
    }
    if (state === 'deleting')
      throw new BatchServiceError(409, 'JobBeingDeleted', 'The specified job is being deleted.');
    const results: Array<{ spec: TaskAddParameter; error?: BatchServiceError }> = [];
    const added: TaskRecord[] = [];
    const seen = new Set<string>();
    for (const spec of specs) {
      try {
        checkId('task', spec.id);
        const key = spec.id.toLowerCase();
        if (entry.tasks.has(key) || seen.has(key))
          throw new BatchServiceError(409, 'TaskExists', 'The specified task already exists.');
        checkTaskDependencies(spec, entry.record);
        seen.add(key);
        added.push(newTaskRecord(spec));
        results.push({ spec });
      } catch (error) {
        if (!(error instanceof BatchServiceError)) throw error;
        results.push({ spec, error });
      }
    }
    if (added.length > 0) {
      await this.#persist({ t: 'tasks', job: entry.record.id, tasks: added });
      for (const record of added) linkTask(entry, record);
      this.#node.scheduleSoon();
    }
    return results;
  }

  async terminateTask(jobId: string, taskId: string): Promise<void> {
    const job = this.getJob(jobId);
    const task = this.getTask(jobId, taskId);
    if (task.record.state === 'completed') return;
    if (job.running.has(task)) {
      stopAttempt(task, {
        kind: 'terminate',
        failure: taskEnded('The task was terminated by a request'),
      });
      await task.attempt?.done;
      return;
    }
    transition(task.record, 'completed');
    task.record.executionInfo.endTime = task.record.stateTransitionTime;
    task.queued = false;
    await this.#persist({ t: 'tasks', job: job.record.id, tasks: [task.record] });
    await this.#afterCompletion(job, task);
  }

  async deleteTask(jobId: string, taskId: string): Promise<void> {
    const job = this.getJob(jobId);
    const task = this.getTask(jobId, taskId);
    if (job.running.has(task)) {
      stopAttempt(task, {
        kind: 'terminate',
        failure: taskEnded('The task was deleted'),
      });
      await task.attempt?.done;
    }
    job.tasks.delete(task.key);
    job.order = job.order.filter((t) => t !== task);
    task.queued = false;
    await this.#persist({ t: 'task-', job: job.record.id, id: task.record.spec.id });
    // Its dependents would wait for it forever, as on Batch; nothing else refers to it.
  }

  /** Requeues a running task, as Batch does when the node running it is preempted or lost. */
  preempt(task: TaskEntry): void {
    stopAttempt(task, { kind: 'requeue' });
  }

  /** Every task running now, in any job. */
  runningTasks(): TaskEntry[] {
    return [...this.jobs.values()].flatMap((j) => [...j.running]);
  }

  /** A task has completed: its dependents may run, and its job may be done. */
  async #afterCompletion(job: JobEntry, task: TaskEntry): Promise<void> {
    if (releaseDependents(job, task)) this.#node.scheduleSoon();
    await this.#maybeComplete(job);
  }

  async #maybeComplete(job: JobEntry): Promise<void> {
    const record = job.record;
    if (record.onAllTasksComplete !== 'terminatejob' || record.state !== 'active') return;
    if (job.order.some((t) => t.record.state !== 'completed')) return;
    record.terminateReason = 'AllTasksComplete';
    await this.#setJobState(job, 'terminating');
    await this.#finishTermination(job);
  }

  /** Task counts by state, as `taskcounts` reports them. */
  taskCounts(jobId: string): TaskCounts {
    return countTasks(this.getJob(jobId));
  }
}

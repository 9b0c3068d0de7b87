import { cpus } from 'node:os';
import path from 'node:path';
import { mkdir, rm } from 'node:fs/promises';
import type { ComponentLogger } from '../host/logger.js';
import { parseDuration } from '../util/timespan.js';
import { dependencyAction, dependencyIds } from './dependencies.js';
import { BatchServiceError, invalidProperty, notFound } from './errors.js';
import {
  ProcessRegistry,
  resetTaskDirectory,
  stageResourceFiles,
  taskDirectories,
  TaskAttempt,
  uploadOutputFiles,
  type TaskDirectories,
} from './executor.js';
import { Journal } from './journal.js';
import {
  checkId,
  newEtag,
  type FailureInfo,
  type JobAddParameter,
  type JobRecord,
  type PoolAddParameter,
  type PoolRecord,
  type TaskAddParameter,
  type TaskRecord,
  type TaskStateName,
} from './model.js';
import { StagingError, type StorageAccess } from './storageAccess.js';

type JournalRecord =
  | { t: 'pool'; pool: PoolRecord }
  | { t: 'pool-'; id: string }
  | { t: 'job'; job: JobRecord }
  | { t: 'job-'; id: string }
  | { t: 'tasks'; job: string; tasks: TaskRecord[] }
  | { t: 'task-'; job: string; id: string };

interface Snapshot {
  pools: PoolRecord[];
  jobs: Array<{ job: JobRecord; tasks: TaskRecord[] }>;
}

/** A task in memory: its record plus the scheduler's view of it. */
export interface TaskEntry {
  record: TaskRecord;
  key: string;
  /** Dependencies not yet satisfied. */
  unsatisfied: number;
  /** A dependency failed and blocks this task: it stays active and never runs, as on Batch. */
  blocked: boolean;
  dependents: TaskEntry[];
  attempt?: TaskAttempt;
  /** Its run while it is in its job's `running`: settles once it has left it, whatever happened. */
  run?: Promise<void>;
  /** What the current stop of the running attempt means. */
  stopIntent?: { kind: 'requeue' } | { kind: 'terminate'; failure: FailureInfo };
  queued: boolean;
  slots: number;
}

export interface JobEntry {
  record: JobRecord;
  tasks: Map<string, TaskEntry>;
  order: TaskEntry[];
  /** Dependents waiting for tasks not added yet, by lower-case id. */
  waiting: Map<string, TaskEntry[]>;
  ready: TaskEntry[];
  readyHead: number;
  running: Set<TaskEntry>;
  wallClock?: NodeJS.Timeout;
}

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
const COMPACT_AFTER = 20_000;

/**
 * The local Batch account: pools as task slots, jobs and tasks with Batch's states and rules
 * (dependencies and their actions, retries, wall clock limits, job completion), tasks run as
 * local processes, every change journaled so a restart resumes where the service stopped.
 */
export class BatchState {
  readonly pools = new Map<string, PoolRecord>();
  readonly jobs = new Map<string, JobEntry>();
  readonly #o: BatchStateOptions;
  readonly #journal: Journal<JournalRecord>;
  readonly #nodeRoot: string;
  readonly #processes: ProcessRegistry;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #work = new Set<Promise<unknown>>();
  #scheduled = false;
  #stopped = false;
  #compacting: Promise<void> | undefined;

  constructor(options: BatchStateOptions) {
    this.#o = options;
    this.#journal = new Journal(path.join(options.dataDir, 'state'));
    this.#nodeRoot = path.join(options.dataDir, 'nodes', 'local-node');
    this.#processes = new ProcessRegistry(path.join(options.dataDir, 'running'));
  }

  get nodeRoot(): string {
    return this.#nodeRoot;
  }

  async start(): Promise<void> {
    await mkdir(path.join(this.#nodeRoot, 'shared'), { recursive: true });
    await mkdir(path.join(this.#nodeRoot, 'startup'), { recursive: true });
    const leftovers = await this.#processes.killLeftovers();
    if (leftovers > 0)
      this.#o.logger.info(`killed ${leftovers} task process group(s) left running by an earlier run`);
    const { snapshot, records } = await this.#journal.load();
    const loaded = snapshot as Snapshot | undefined;
    const jobs = new Map<string, { job: JobRecord; tasks: Map<string, TaskRecord> }>();
    for (const pool of loaded?.pools ?? []) this.pools.set(pool.id.toLowerCase(), pool);
    for (const { job, tasks } of loaded?.jobs ?? []) {
      jobs.set(job.id.toLowerCase(), { job, tasks: new Map(tasks.map((t) => [t.spec.id.toLowerCase(), t])) });
    }
    for (const record of records) {
      switch (record.t) {
        case 'pool':
          this.pools.set(record.pool.id.toLowerCase(), record.pool);
          break;
        case 'pool-':
          this.pools.delete(record.id.toLowerCase());
          break;
        case 'job': {
          const key = record.job.id.toLowerCase();
          const existing = jobs.get(key);
          if (existing) existing.job = record.job;
          else jobs.set(key, { job: record.job, tasks: new Map() });
          break;
        }
        case 'job-':
          jobs.delete(record.id.toLowerCase());
          break;
        case 'tasks': {
          const entry = jobs.get(record.job.toLowerCase());
          if (entry) for (const task of record.tasks) entry.tasks.set(task.spec.id.toLowerCase(), task);
          break;
        }
        case 'task-':
          jobs.get(record.job.toLowerCase())?.tasks.delete(record.id.toLowerCase());
          break;
      }
    }
    if (!loaded && records.length === 0) {
      for (const pool of this.#o.initialPools) {
        const time = now();
        const record: PoolRecord = {
          id: pool.id,
          vmSize: 'local',
          state: 'active',
          allocationState: 'steady',
          targetDedicatedNodes: pool.nodes,
          currentDedicatedNodes: pool.nodes,
          targetLowPriorityNodes: 0,
          currentLowPriorityNodes: 0,
          taskSlotsPerNode: pool.slotsPerNode,
          creationTime: time,
          lastModified: time,
          stateTransitionTime: time,
          allocationStateTransitionTime: time,
          eTag: newEtag(),
          extra: {},
        };
        this.pools.set(pool.id.toLowerCase(), record);
        await this.#persist({ t: 'pool', pool: record });
      }
    }

    // Whatever was mid-transition when the service stopped finishes now; tasks that were running
    // are requeued, as Batch requeues the tasks of a node it lost.
    for (const pool of this.pools.values()) {
      if (pool.state === 'deleting') {
        this.pools.delete(pool.id.toLowerCase());
        await this.#persist({ t: 'pool-', id: pool.id });
      } else if (pool.allocationState !== 'steady') {
        this.#finishResize(pool);
      }
    }
    const requeued: TaskRecord[] = [];
    for (const { job, tasks } of jobs.values()) {
      const entry = this.#newJobEntry(job);
      this.jobs.set(job.id.toLowerCase(), entry);
      for (const task of tasks.values()) {
        if (task.state === 'running' || task.state === 'preparing') {
          this.#transition(task, 'active');
          task.executionInfo.requeueCount++;
          task.executionInfo.lastRequeueTime = now();
          requeued.push(task);
        }
        this.#link(entry, task);
      }
      if (requeued.length > 0) await this.#persist({ t: 'tasks', job: job.id, tasks: requeued.splice(0) });
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
    const running = [...this.jobs.values()].reduce(
      (n, j) => n + j.order.filter((t) => t.record.state !== 'completed').length,
      0,
    );
    if (running > 0)
      this.#o.logger.info(`resuming ${running} unfinished task(s) in ${this.jobs.size} job(s)`);
    this.#scheduleSoon();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    for (const job of this.jobs.values()) clearTimeout(job.wallClock);
    // Running tasks go back to the queue, to run again at the next start, as after a node loss;
    // their processes are killed so nothing keeps running unowned.
    for (const job of this.jobs.values())
      for (const task of job.running) this.#stopAttempt(task, { kind: 'requeue' });
    await Promise.allSettled([...this.#work]);
    await this.#compacting;
    await this.#journal.close();
  }

  // ---- persistence ----

  #persist(record: JournalRecord): Promise<void> {
    const written = this.#journal.append(record);
    if (this.#journal.length > COMPACT_AFTER && !this.#compacting) {
      this.#compacting = written
        .then(() => this.#journal.compact(() => this.#snapshot()))
        .catch((error: unknown) => this.#o.logger.error('could not compact the Batch journal', error))
        .finally(() => {
          this.#compacting = undefined;
        });
    }
    return written;
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
    const time = now();
    const {
      id,
      displayName,
      vmSize,
      targetDedicatedNodes,
      targetLowPriorityNodes,
      taskSlotsPerNode,
      ...extra
    } = spec;
    const pool: PoolRecord = {
      id,
      ...(displayName ? { displayName } : {}),
      vmSize,
      state: 'active',
      allocationState: 'resizing',
      targetDedicatedNodes: targetDedicatedNodes ?? 0,
      currentDedicatedNodes: 0,
      targetLowPriorityNodes: targetLowPriorityNodes ?? 0,
      currentLowPriorityNodes: 0,
      taskSlotsPerNode: taskSlotsPerNode ?? 1,
      creationTime: time,
      lastModified: time,
      stateTransitionTime: time,
      allocationStateTransitionTime: time,
      eTag: newEtag(),
      extra,
    };
    this.pools.set(id.toLowerCase(), pool);
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
    const time = now();
    pool.targetDedicatedNodes = targetDedicated ?? pool.targetDedicatedNodes;
    pool.targetLowPriorityNodes = targetLowPriority ?? pool.targetLowPriorityNodes;
    pool.allocationState = 'resizing';
    pool.allocationStateTransitionTime = time;
    pool.lastModified = time;
    pool.eTag = newEtag();
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
    const time = now();
    pool.currentDedicatedNodes = pool.targetDedicatedNodes;
    pool.currentLowPriorityNodes = pool.targetLowPriorityNodes;
    pool.allocationState = 'steady';
    pool.allocationStateTransitionTime = time;
    pool.lastModified = time;
    pool.eTag = newEtag();
    void this.#persist({ t: 'pool', pool });
    // Fewer slots than tasks running: the newest go back to the queue, as nodes removed with
    // nodeDeallocationOption "requeue" (the default) do.
    const excess = this.#usedSlots(pool) - this.#slots(pool);
    if (excess > 0) {
      const running = [...this.jobs.values()]
        .filter((j) => j.record.poolId.toLowerCase() === pool.id.toLowerCase())
        .flatMap((j) => [...j.running])
        .sort((a, b) =>
          (b.record.executionInfo.startTime ?? '').localeCompare(a.record.executionInfo.startTime ?? ''),
        );
      let freed = 0;
      for (const task of running) {
        if (freed >= excess) break;
        freed += task.slots;
        this.#stopAttempt(task, { kind: 'requeue' });
      }
    }
    this.#scheduleSoon();
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
      for (const task of job.running) this.#stopAttempt(task, { kind: 'requeue' });
    }
    this.#later(this.#o.resizeDelayMs, () => {
      this.pools.delete(pool.id.toLowerCase());
      void this.#persist({ t: 'pool-', id: pool.id });
    });
  }

  #slots(pool: PoolRecord): number {
    if (pool.state !== 'active') return 0;
    return (pool.currentDedicatedNodes + pool.currentLowPriorityNodes) * pool.taskSlotsPerNode;
  }

  #usedSlots(pool: PoolRecord): number {
    let used = 0;
    for (const job of this.jobs.values()) {
      if (job.record.poolId.toLowerCase() !== pool.id.toLowerCase()) continue;
      for (const task of job.running) used += task.slots;
    }
    return used;
  }

  // ---- jobs ----

  #newJobEntry(job: JobRecord): JobEntry {
    return {
      record: job,
      tasks: new Map(),
      order: [],
      waiting: new Map(),
      ready: [],
      readyHead: 0,
      running: new Set(),
    };
  }

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
    const time = now();
    const record: JobRecord = {
      id: spec.id,
      ...(spec.displayName ? { displayName: spec.displayName } : {}),
      poolId: spec.poolInfo.poolId,
      priority: spec.priority ?? 0,
      state: 'active',
      creationTime: time,
      lastModified: time,
      stateTransitionTime: time,
      onAllTasksComplete: spec.onAllTasksComplete ?? 'noaction',
      onTaskFailure: spec.onTaskFailure ?? 'noaction',
      usesTaskDependencies: spec.usesTaskDependencies ?? false,
      ...(spec.constraints?.maxWallClockTime ? { maxWallClockTime: spec.constraints.maxWallClockTime } : {}),
      maxTaskRetryCount: spec.constraints?.maxTaskRetryCount ?? 0,
      commonEnvironmentSettings: spec.commonEnvironmentSettings ?? [],
      ...(spec.metadata ? { metadata: spec.metadata } : {}),
      startTime: time,
      eTag: newEtag(),
    };
    const entry = this.#newJobEntry(record);
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
    this.#scheduleSoon();
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
    const failure: FailureInfo = {
      category: 'usererror',
      code: 'TaskEnded',
      message: `The task was terminated because its job ended (${job.terminateReason ?? 'UserTerminate'})`,
    };
    const stopping = [...entry.running].map((task) => {
      this.#stopAttempt(task, { kind: 'terminate', failure });
      return task;
    });
    // Tasks that never started are completed as they are.
    const completed: TaskRecord[] = [];
    for (const task of entry.order) {
      if (task.record.state === 'active' && !entry.running.has(task)) {
        this.#transition(task.record, 'completed');
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
      const failure: FailureInfo = {
        category: 'usererror',
        code: 'TaskEnded',
        message: 'The task was terminated because its job was disabled',
      };
      for (const task of [...entry.running])
        this.#stopAttempt(task, mode === 'requeue' ? { kind: 'requeue' } : { kind: 'terminate', failure });
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
    this.#scheduleSoon();
  }

  async deleteJob(id: string): Promise<void> {
    const entry = this.getJob(id);
    if (entry.record.state === 'deleting') return;
    await this.#setJobState(entry, 'deleting');
    void this.#track(this.#deleteNow(entry));
  }

  async #deleteNow(entry: JobEntry): Promise<void> {
    clearTimeout(entry.wallClock);
    const failure: FailureInfo = {
      category: 'usererror',
      code: 'TaskEnded',
      message: 'The task was terminated because its job was deleted',
    };
    for (const task of [...entry.running]) this.#stopAttempt(task, { kind: 'terminate', failure });
    await this.#waitIdle(entry);
    this.jobs.delete(entry.record.id.toLowerCase());
    await this.#persist({ t: 'job-', id: entry.record.id });
    await rm(path.join(this.#nodeRoot, 'workitems', entry.record.id), { recursive: true, force: true });
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
        if (spec.dependsOn && !entry.record.usesTaskDependencies) {
          throw new BatchServiceError(
            409,
            'TaskDependenciesNotSpecifiedOnJob',
            'The job does not allow task dependencies (usesTaskDependencies is false).',
          );
        }
        const idLength = (spec.dependsOn?.taskIds ?? []).join('').length;
        if (idLength > 64_000)
          throw invalidProperty(
            'dependsOn.taskIds',
            'the dependency id list is longer than 64,000 characters; use taskIdRanges',
          );
        for (const range of spec.dependsOn?.taskIdRanges ?? []) {
          if (range.end < range.start)
            throw invalidProperty('dependsOn.taskIdRanges', 'a range ends before it starts');
        }
        seen.add(key);
        const time = now();
        added.push({
          spec,
          state: 'active',
          creationTime: time,
          lastModified: time,
          stateTransitionTime: time,
          eTag: newEtag(),
          executionInfo: { retryCount: 0, requeueCount: 0 },
        });
        results.push({ spec });
      } catch (error) {
        if (!(error instanceof BatchServiceError)) throw error;
        results.push({ spec, error });
      }
    }
    if (added.length > 0) {
      await this.#persist({ t: 'tasks', job: entry.record.id, tasks: added });
      for (const record of added) this.#link(entry, record);
      this.#scheduleSoon();
    }
    return results;
  }

  /** Indexes a task for scheduling: its dependencies, its dependents, and the ready queue. */
  #link(job: JobEntry, record: TaskRecord): void {
    const key = record.spec.id.toLowerCase();
    const task: TaskEntry = {
      record,
      key,
      unsatisfied: 0,
      blocked: false,
      dependents: [],
      queued: false,
      slots: record.spec.requiredSlots ?? 1,
    };
    job.tasks.set(key, task);
    job.order.push(task);
    for (const id of dependencyIds(record.spec)) {
      const dependency = job.tasks.get(id.toLowerCase());
      if (dependency?.record.state === 'completed') {
        if (this.#outcome(dependency) === 'block') task.blocked = true;
        continue;
      }
      task.unsatisfied++;
      if (dependency) dependency.dependents.push(task);
      else {
        const list = job.waiting.get(id.toLowerCase()) ?? [];
        list.push(task);
        job.waiting.set(id.toLowerCase(), list);
      }
    }
    const waiters = job.waiting.get(key);
    if (waiters) {
      job.waiting.delete(key);
      if (record.state === 'completed') {
        const outcome = this.#outcome(task);
        for (const waiter of waiters) this.#resolveDependency(job, waiter, outcome);
      } else {
        task.dependents.push(...waiters);
      }
    }
    this.#enqueueIfReady(job, task);
  }

  #outcome(task: TaskEntry): 'satisfy' | 'block' {
    const exec = task.record.executionInfo;
    const preProcessing = exec.failureInfo !== undefined && exec.exitCode === undefined;
    return dependencyAction(task.record.spec, exec.result, exec.exitCode, preProcessing);
  }

  #resolveDependency(job: JobEntry, task: TaskEntry, outcome: 'satisfy' | 'block'): void {
    task.unsatisfied--;
    if (outcome === 'block') task.blocked = true;
    this.#enqueueIfReady(job, task);
  }

  #enqueueIfReady(job: JobEntry, task: TaskEntry): void {
    if (
      task.queued ||
      task.blocked ||
      task.unsatisfied > 0 ||
      task.record.state !== 'active' ||
      job.running.has(task)
    )
      return;
    task.queued = true;
    job.ready.push(task);
    this.#scheduleSoon();
  }

  async terminateTask(jobId: string, taskId: string): Promise<void> {
    const job = this.getJob(jobId);
    const task = this.getTask(jobId, taskId);
    if (task.record.state === 'completed') return;
    if (job.running.has(task)) {
      this.#stopAttempt(task, {
        kind: 'terminate',
        failure: {
          category: 'usererror',
          code: 'TaskEnded',
          message: 'The task was terminated by a request',
        },
      });
      await task.attempt?.done;
      return;
    }
    this.#transition(task.record, 'completed');
    task.record.executionInfo.endTime = task.record.stateTransitionTime;
    task.queued = false;
    await this.#persist({ t: 'tasks', job: job.record.id, tasks: [task.record] });
    await this.#afterCompletion(job, task);
  }

  async deleteTask(jobId: string, taskId: string): Promise<void> {
    const job = this.getJob(jobId);
    const task = this.getTask(jobId, taskId);
    if (job.running.has(task)) {
      this.#stopAttempt(task, {
        kind: 'terminate',
        failure: { category: 'usererror', code: 'TaskEnded', message: 'The task was deleted' },
      });
      await task.attempt?.done;
    }
    job.tasks.delete(task.key);
    job.order = job.order.filter((t) => t !== task);
    task.queued = false;
    await this.#persist({ t: 'task-', job: job.record.id, id: task.record.spec.id });
    // Its dependents would wait for it forever, as on Batch; nothing else refers to it.
  }

  #transition(record: TaskRecord, state: TaskStateName): void {
    transition(record, state);
  }

  #stopAttempt(task: TaskEntry, intent: NonNullable<TaskEntry['stopIntent']>): void {
    task.stopIntent = intent;
    task.attempt?.stop();
  }

  /** Requeues a running task, as Batch does when the node running it is preempted or lost. */
  preempt(task: TaskEntry): void {
    this.#stopAttempt(task, { kind: 'requeue' });
  }

  runningTasks(): TaskEntry[] {
    return [...this.jobs.values()].flatMap((j) => [...j.running]);
  }

  // ---- scheduling ----

  #scheduleSoon(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#stopped) return;
    for (const pool of this.pools.values()) {
      let free = this.#slots(pool) - this.#usedSlots(pool);
      if (free <= 0) continue;
      const jobs = [...this.jobs.values()]
        .filter((j) => j.record.state === 'active' && j.record.poolId.toLowerCase() === pool.id.toLowerCase())
        .sort(
          (a, b) =>
            b.record.priority - a.record.priority ||
            a.record.creationTime.localeCompare(b.record.creationTime),
        );
      for (const job of jobs) {
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
          job.running.add(task);
          task.run = this.#track(
            this.#run(job, task, pool)
              .catch((error: unknown) => this.#runFailed(job, task, error))
              .finally(() => {
                task.run = undefined;
                job.running.delete(task);
              }),
          );
        }
        if (job.readyHead > 1024 && job.readyHead * 2 > job.ready.length) {
          job.ready = job.ready.slice(job.readyHead);
          job.readyHead = 0;
        }
        if (free <= 0) break;
      }
    }
  }

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
      AZ_BATCH_NODE_ROOT_DIR: this.#nodeRoot,
      AZ_BATCH_NODE_SHARED_DIR: path.join(this.#nodeRoot, 'shared'),
      AZ_BATCH_NODE_STARTUP_DIR: path.join(this.#nodeRoot, 'startup'),
      AZ_BATCH_JOB_ID: job.record.id,
      AZ_BATCH_TASK_ID: task.record.spec.id,
      AZ_BATCH_TASK_DIR: dirs.taskDir,
      AZ_BATCH_TASK_WORKING_DIR: dirs.workingDir,
      AZ_BATCH_TASK_USER: process.env.USER ?? 'batch',
      AZ_BATCH_RESERVED_SLOTS: String(task.slots),
      AZ_BATCH_CPUS: String(cpus().length),
    });
    for (const setting of job.record.commonEnvironmentSettings) env[setting.name] = setting.value ?? '';
    for (const setting of task.record.spec.environmentSettings ?? []) env[setting.name] = setting.value ?? '';
    return env;
  }

  async #run(job: JobEntry, task: TaskEntry, pool: PoolRecord): Promise<void> {
    const record = task.record;
    const exec = record.executionInfo;
    const dirs = taskDirectories(this.#nodeRoot, job.record.id, record.spec.id);
    const time = now();
    this.#transition(record, 'running');
    exec.startTime = time;
    record.firstStartTime ??= time;
    delete exec.endTime;
    delete exec.exitCode;
    delete exec.failureInfo;
    delete exec.result;
    task.stopIntent = undefined;
    await this.#persist({ t: 'tasks', job: job.record.id, tasks: [record] });

    const maxRetries = record.spec.constraints?.maxTaskRetryCount ?? job.record.maxTaskRetryCount;
    const wallClock = record.spec.constraints?.maxWallClockTime;
    const deadline = wallClock ? Date.parse(record.firstStartTime) + parseDuration(wallClock) : undefined;
    let failureInfo: FailureInfo | undefined;
    let exitCode: number | undefined;
    try {
      await resetTaskDirectory(dirs);
      await stageResourceFiles(this.#o.storage, record.spec, dirs.workingDir);
      for (;;) {
        const attempt = new TaskAttempt({
          task: record.spec,
          dirs,
          env: this.#environment(job, task, pool, dirs),
          ...(deadline !== undefined ? { deadline } : {}),
          processes: this.#processes,
        });
        task.attempt = attempt;
        if (task.stopIntent) attempt.stop();
        const outcome = await attempt.done;
        exitCode = outcome.exitCode;
        failureInfo = outcome.failureInfo;
        if (outcome.stoppedBy === 'stop' || (task.stopIntent as TaskEntry['stopIntent'])) break;
        if (outcome.stoppedBy === 'wallclock') {
          failureInfo = {
            category: 'usererror',
            code: 'MaxWallClockTimeExpiry',
            message: `The task ran longer than its maximum wall clock time (${wallClock}) and was killed`,
          };
          break;
        }
        if (exitCode === 0 || failureInfo) break;
        if (maxRetries !== -1 && exec.retryCount >= maxRetries) break;
        exec.retryCount++;
        exec.lastRetryTime = now();
        await this.#persist({ t: 'tasks', job: job.record.id, tasks: [record] });
      }
    } catch (error) {
      if (!(error instanceof StagingError)) throw error;
      failureInfo = error.failureInfo;
      exitCode = undefined;
    } finally {
      task.attempt = undefined;
    }

    // Set from outside while the attempt ran (termination, requeue); TypeScript cannot see that.
    const intent = task.stopIntent as TaskEntry['stopIntent'];
    if (intent?.kind === 'requeue') {
      job.running.delete(task);
      this.#transition(record, 'active');
      exec.requeueCount++;
      exec.lastRequeueTime = now();
      delete exec.startTime;
      task.stopIntent = undefined;
      await this.#persist({ t: 'tasks', job: job.record.id, tasks: [record] });
      this.#enqueueIfReady(job, task);
      this.#scheduleSoon();
      return;
    }
    if (intent?.kind === 'terminate') failureInfo = intent.failure;
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
    this.#transition(record, 'completed');
    exec.endTime = record.stateTransitionTime;
    task.stopIntent = undefined;
    await this.#persist({ t: 'tasks', job: job.record.id, tasks: [record] });
    job.running.delete(task);
    await this.#afterCompletion(job, task);
    this.#scheduleSoon();
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
      this.#transition(record, 'completed');
      record.executionInfo.endTime = record.stateTransitionTime;
      await this.#persist({ t: 'tasks', job: job.record.id, tasks: [record] }).catch(() => undefined);
    }
    await this.#afterCompletion(job, task).catch(() => undefined);
    this.#scheduleSoon();
  }

  async #afterCompletion(job: JobEntry, task: TaskEntry): Promise<void> {
    const outcome = this.#outcome(task);
    for (const dependent of task.dependents) this.#resolveDependency(job, dependent, outcome);
    task.dependents = [];
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
  taskCounts(jobId: string): {
    active: number;
    running: number;
    completed: number;
    succeeded: number;
    failed: number;
  } {
    const counts = { active: 0, running: 0, completed: 0, succeeded: 0, failed: 0 };
    for (const task of this.getJob(jobId).order) {
      const state = task.record.state;
      if (state === 'completed') {
        counts.completed++;
        if (task.record.executionInfo.result === 'success') counts.succeeded++;
        else if (task.record.executionInfo.result === 'failure') counts.failed++;
      } else if (state === 'running' || state === 'preparing') counts.running++;
      else counts.active++;
    }
    return counts;
  }
}

/** Moves a job or task to a new state, keeping the previous one and a new ETag, as Batch reports them. */
function transition<S extends string>(
  record: {
    state: S;
    previousState?: S;
    stateTransitionTime: string;
    previousStateTransitionTime?: string;
    lastModified: string;
    eTag: string;
  },
  state: S,
): void {
  const time = now();
  record.previousState = record.state;
  record.previousStateTransitionTime = record.stateTransitionTime;
  record.state = state;
  record.stateTransitionTime = time;
  record.lastModified = time;
  record.eTag = newEtag();
}

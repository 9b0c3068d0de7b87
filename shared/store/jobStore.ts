import type { JobSpec, TaskSpec, TemplateBody } from '../domain/jobSpec.js';
import type { RecordedChange, RecordedTaskChange } from '../domain/notifications.js';
import type { ActiveStatus, JobCondition, JobStatus, TaskStatus } from '../domain/lifecycle.js';

/** Task counts of a job, by status. */
export type TaskCounts = Record<TaskStatus, number>;

/** A job as stored: its identity, lifecycle and summary; the full spec is read separately. */
export interface JobRecord {
  id: string;
  owner: string;
  name: string;
  description?: string;
  template?: string;
  pool: string;
  tags: Record<string, string>;
  /** Batch job priority, -1000 to 1000; changeable while the job runs. */
  priority: number;
  /** The job this one was resubmitted from. */
  resubmittedFrom?: string;
  /** Jobs resubmitted from this one, oldest first. */
  resubmissions: string[];
  /** Takes more tasks: submitted with completeWhenTasksFinish false, and not yet completed. */
  open: boolean;
  status: JobStatus;
  resumeStatus?: ActiveStatus;
  condition?: JobCondition;
  /** Why the job is in its status (the last history message). */
  message: string;
  /** Failed tasks' exit codes, by task id, for a job that failed on them. */
  exitCodes?: Record<string, number>;
  /** History entries so far; the last one's sequence number. */
  sequence: number;
  taskCount: number;
  taskCounts: TaskCounts;
  createdAt: string;
  updatedAt: string;
  /** Optimistic concurrency token of the stored record. */
  etag: string;
}

/** One state change in a job's history. */
export type HistoryEntry = RecordedChange;

/** A place in an owner's change log: job `jobId`'s history entry `sequence`. */
export interface OwnerChange {
  position: number;
  jobId: string;
  sequence: number;
}

/** A task as stored. */
export interface TaskRecord {
  id: string;
  status: TaskStatus;
  /** The attempt the status belongs to, from 1; a retried task keeps its id and counts up. */
  attempt: number;
  exitCode?: number;
  failure?: { code: string; message: string };
  startedAt?: string;
  endedAt?: string;
  updatedAt: string;
}

/** An observed task state to record. */
export interface TaskUpdate {
  id: string;
  status: TaskStatus;
  attempt: number;
  exitCode?: number;
  failure?: { code: string; message: string };
  startedAt?: string;
  endedAt?: string;
  at: string;
}

/** A task whose stored state an update changed. */
export interface TaskChange {
  task: TaskRecord;
  previousStatus: TaskStatus;
}

/** What applying task observations did. */
export interface TaskUpdateResult {
  /** The tasks whose stored state changed, with the status each had before. */
  changes: TaskChange[];
  /**
   * Tasks not yet final among those stored with the updated ones (the store keeps tasks in
   * blocks): 0 means the job may be done and its counts are worth reading; more means it is not.
   */
  unfinishedNearby: number;
  /**
   * With `log`, the first and last task event log sequence numbers the changes were given (a call
   * written in several transactions may have another writer's entries between them).
   */
  logged?: { first: number; last: number };
}

/** How to apply task observations. */
export interface TaskUpdateOptions {
  /**
   * Also append the changes to the job's task event log, in the same atomic writes (so a change
   * is logged exactly when it is stored). Off unless someone subscribed to task events: the log
   * orders a job's task writes one after another.
   */
  log?: boolean;
}

/** One change in a job's task event log. */
export type TaskLogEntry = RecordedTaskChange;

/** The log entry of a stored change, numbered `sequence`. */
export function taskLogEntry(change: TaskChange, sequence: number): TaskLogEntry {
  const { task } = change;
  return {
    sequence,
    taskId: task.id,
    status: task.status,
    previousStatus: change.previousStatus,
    attempt: task.attempt,
    ...(task.exitCode !== undefined ? { exitCode: task.exitCode } : {}),
    ...(task.failure ? { failure: task.failure } : {}),
    at: task.updatedAt,
  };
}

/** A page of results and, if there are more, the token for the next one. */
export interface Page<T> {
  items: T[];
  continuation?: string;
}

/** See {@link JobStore.appendTasks}. */
export interface AppendTasksRequest {
  tasks: TaskSpec[];
  key?: string;
  check: (spec: JobSpec) => Promise<void>;
}

/** Tasks added to a job: the `set`-th addition, at positions `first`.. of its tasks. */
export interface AppendedTasks {
  job: JobRecord;
  set: number;
  first: number;
  count: number;
  replayed: boolean;
}

/** What a new job starts with. */
export interface NewJob {
  id: string;
  owner: string;
  spec: JobSpec;
  name: string;
  description?: string;
  template?: string;
  pool: string;
  tags: Record<string, string>;
  /** Batch job priority; 0 unless given. */
  priority?: number;
  /** The job this one is a resubmission of. */
  resubmittedFrom?: string;
  /** It takes tasks after it is submitted (completeWhenTasksFinish false). */
  open?: boolean;
  taskCount: number;
  /** The caller's Idempotency-Key and a digest of the request it came with. */
  idempotency?: { key: string; requestDigest: string };
  at: string;
}

/** The result of creating a job: `existing` when an Idempotency-Key named an earlier one. */
export type CreateResult = { job: JobRecord; created: true } | { job: JobRecord; created: false };

/** A status change to record. */
export interface StatusChange {
  to: JobStatus;
  message: string;
  condition?: JobCondition;
  exitCodes?: Record<string, number>;
  /** The job's task counts at the change, kept on the job for listings and events. */
  taskCounts?: TaskCounts;
  at: string;
}

/** A registered template version. */
export interface TemplateRecord {
  name: string;
  version: string;
  owner: string;
  public: boolean;
  description?: string;
  body: TemplateBody;
  createdAt: string;
}

/**
 * Where jobs, their history and tasks, and templates live. Every write that can race uses
 * optimistic concurrency; a status changes only through the lifecycle rules.
 */
/** Which of an owner's jobs a listing returns; every filter given must hold. */
export interface JobListOptions {
  status?: JobStatus;
  name?: string;
  /** Jobs carrying this tag (with this value, when one is given). */
  tag?: { key: string; value?: string };
  /** Jobs submitted at or after this instant (ISO 8601). */
  createdAfter?: string;
  /** Jobs submitted before this instant (ISO 8601). */
  createdBefore?: string;
  /**
   * `submitted` (the default): newest first, read page by page. `priority`: highest first, then
   * newest; every matching job's key is read for each page, so this costs more on big listings.
   */
  sort?: JobListSort;
  limit: number;
  continuation?: string;
}

/** The orders a job listing can come in. */
export const JOB_LIST_SORTS = ['submitted', 'priority'] as const;
export type JobListSort = (typeof JOB_LIST_SORTS)[number];

export interface JobStore {
  /**
   * Stores a new job (status PENDING, with its first history entry and a record per task). With
   * an Idempotency-Key seen before for the same owner, returns that job instead; with the same key
   * and a different request, throws a ConflictError (IDEMPOTENCY_KEY_REUSED).
   */
  createJob(job: NewJob): Promise<CreateResult>;
  /** A job by id, whoever owns it; undefined if there is none. */
  getJob(id: string): Promise<JobRecord | undefined>;
  /** The spec a job was submitted with. */
  getSpec(id: string): Promise<JobSpec>;
  /** An owner's jobs, newest first, narrowed by `options`. */
  listJobs(owner: string, options: JobListOptions): Promise<Page<JobRecord>>;
  /**
   * Moves a job to a new status through the lifecycle rules and appends the history entry, in one
   * atomic write. Reporting the status the job already has changes nothing (`changed: false`):
   * signals arrive more than once. A move the rules refuse throws INVALID_TRANSITION.
   */
  recordStatus(id: string, change: StatusChange): Promise<{ job: JobRecord; changed: boolean }>;
  /** A job's history, oldest first. */
  history(id: string): Promise<HistoryEntry[]>;
  /**
   * The owner's change log after position `after`, oldest first: which job changed and which of
   * its history entries says how. Every recorded status change of every job of the owner gets the
   * next position, in the same write as the change. A deleted job's positions remain, pointing
   * at nothing.
   */
  ownerChanges(owner: string, options: { after: number; limit: number }): Promise<OwnerChange[]>;
  /** The owner's change log's last position (0 before the first change). */
  ownerHead(owner: string): Promise<number>;
  /**
   * Records a job's tasks, in the job's order, each with its first status, from position `first`
   * (0, or the job's earlier task count for tasks added later); safe to repeat: tasks already
   * recorded keep the state they have reached.
   */
  putTasks(
    id: string,
    tasks: ReadonlyArray<{ id: string; status: TaskStatus }>,
    first?: number,
  ): Promise<void>;
  /**
   * Adds tasks to the spec of a job that is open for them (see {@link JobRecord.open}) and counts
   * them in its task count, in one write. `check` is shown the spec with them and throws to refuse;
   * if the job changes meanwhile it is read and checked again. With `key`, a repeat of a request
   * answers what the first did (`replayed`), changing nothing.
   */
  appendTasks(id: string, request: AppendTasksRequest): Promise<AppendedTasks>;
  /** The additions of tasks to an open job, in order: where each one's tasks start, and how many. */
  taskSets(id: string): Promise<Array<{ first: number; count: number }>>;
  /** Closes an open job to more tasks (its owner said it is complete); safe to repeat. */
  closeJob(id: string): Promise<void>;
  /**
   * Applies observed task states. Each is compared with what is stored (see
   * `compareTaskObservation`): a duplicate or older observation changes nothing, so signals
   * delivered twice or late are harmless. Returns what changed, with the status each had before.
   */
  updateTasks(
    id: string,
    updates: readonly TaskUpdate[],
    options?: TaskUpdateOptions,
  ): Promise<TaskUpdateResult>;
  /**
   * The job's task event log after sequence `after`, oldest first, at most `limit` entries. Empty
   * for a job nobody asked task events of.
   */
  taskLog(id: string, options: { after: number; limit: number }): Promise<TaskLogEntry[]>;
  /**
   * Notes that someone follows job `id` live until `until` (ISO time): its task changes are
   * logged meanwhile, so the stream can tell them. Later marks extend earlier ones.
   */
  watch(id: string, until: string): Promise<void>;
  /** Until when someone follows job `id` live, if anyone has said so. */
  watchedUntil(id: string): Promise<string | undefined>;
  /**
   * The job's task counts by status, exact: counted with the tasks in the same writes. Undefined
   * until the job's tasks are recorded.
   */
  taskCounts(id: string): Promise<TaskCounts | undefined>;
  /** Jobs not yet final, whoever owns them (or of `owner` only): what the reconciler looks after. */
  listInFlight(owner?: string): Promise<Array<{ id: string; owner: string }>>;
  /**
   * Drops a job from the in-flight list if it has ended or is gone (a status write that was cut
   * off may leave it there); returns whether it did.
   */
  settledInFlight(id: string): Promise<boolean>;
  /** A job's tasks in the job's order, optionally of one status. */
  listTasks(
    id: string,
    options: { status?: TaskStatus; limit: number; continuation?: string },
  ): Promise<Page<TaskRecord>>;
  /** One of a job's tasks; undefined if it has none of that id. */
  getTask(id: string, taskId: string): Promise<TaskRecord | undefined>;
  /**
   * Notes that `by` cancelled a task on its own, before Batch is asked to stop it, so whoever
   * records its end knows it was not cancelled with its job. A repeat keeps the first note.
   */
  markTaskCancelled(id: string, taskId: string, by: string, at: string): Promise<void>;
  /** Takes back a note whose cancel never reached the task. */
  unmarkTaskCancelled(id: string, taskId: string): Promise<void>;
  /** The ids of a job's tasks cancelled on their own. */
  tasksCancelledAlone(id: string): Promise<Set<string>>;
  /** Forgets a job: its record, history, tasks and spec. */
  deleteJob(id: string): Promise<void>;
  /**
   * Jobs of every owner that ended (FINISHED, FAILED or CANCELLED) and last changed before
   * `cutoff` (ISO 8601): what retention forgets. At most `limit`, in no particular order.
   */
  listEndedBefore(cutoff: string, limit: number): Promise<Array<{ id: string; owner: string }>>;
  /** Sets a job's priority; answers the job as it now is. */
  setPriority(id: string, priority: number): Promise<JobRecord>;
  /** Adds `resubmission` to job `id`'s resubmissions, once however often it is told. */
  addResubmission(id: string, resubmission: string): Promise<void>;

  /**
   * Registers a template version. Versions are immutable: the same body again is fine, a
   * different one is a conflict. A name belongs to whoever registered it first.
   */
  putTemplate(template: TemplateRecord): Promise<{ template: TemplateRecord; created: boolean }>;
  /** A template version if `caller` may see it (its owner, or anyone when public). */
  getTemplate(name: string, version: string, caller: string): Promise<TemplateRecord | undefined>;
  /** The versions of a template `caller` may see, oldest first. */
  listTemplateVersions(name: string, caller: string): Promise<TemplateRecord[]>;
  /** Templates `caller` may see: one entry per name with its visible versions. */
  listTemplates(caller: string): Promise<Array<{ name: string; owner: string; versions: string[] }>>;
}

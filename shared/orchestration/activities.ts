import { z } from 'zod';
import { JOB_CONDITIONS, JOB_STATUSES, type JobCondition } from '../domain/lifecycle.js';
import type { TaskCounts } from '../store/jobStore.js';

/** The job orchestration's name (its instance id is the job id). */
export const JOB_ORCHESTRATOR = 'jobOrchestrator';

/** The activities the job orchestration calls, by the names they are registered under. */
export const ACTIVITY = {
  recordStatus: 'recordStatus',
  processInputs: 'processInputs',
  stageInputs: 'stageInputs',
  ensureBatchJob: 'ensureBatchJob',
  submitChunks: 'submitChunks',
  sealBatchJob: 'sealBatchJob',
  controlBatchJob: 'controlBatchJob',
  settleTasks: 'settleTasks',
  archiveOutputs: 'archiveOutputs',
  describePool: 'describePool',
  tasksAllDone: 'tasksAllDone',
  stageAddedTasks: 'stageAddedTasks',
  activeJobs: 'activeJobs',
} as const;

const jobId = z.string().min(1).max(64);

/** Input of the activities that need only the job. */
export const jobInputSchema = z.strictObject({ jobId });

/** Input of `activeJobs`: the jobs to look up. */
export const activeJobsInputSchema = z.strictObject({ jobIds: z.array(jobId).max(1000) });

/** Input of `submitChunks`: the chunks `[from, to)` of the job's plan. */
export const submitChunksInputSchema = z
  .strictObject({
    jobId,
    from: z.number().int().min(0),
    to: z.number().int().min(1),
    /** The addition of tasks the chunks belong to; absent for the job's first tasks. */
    set: z.number().int().min(1).optional(),
  })
  .refine((input) => input.to > input.from, { message: 'to must be greater than from', path: ['to'] });

/** Input of `stageAddedTasks`: the `set`-th addition of tasks, at positions `first`... */
export const stageAddedTasksInputSchema = z.strictObject({
  jobId,
  set: z.number().int().min(1),
  first: z.number().int().min(0),
  count: z.number().int().min(1),
});

/** Input of `controlBatchJob`. */
export const controlInputSchema = z.strictObject({
  jobId,
  action: z.enum(['terminate', 'disable', 'enable']),
});

/** Input of `settleTasks`: what tasks that never ran become. */
export const settleInputSchema = z.strictObject({ jobId, leftover: z.enum(['CANCELLED', 'SKIPPED']) });

/** Input of the `recordStatus` activity: the one way a job's status changes. */
export const statusChangeSchema = z.strictObject({
  jobId: z.string().min(1),
  to: z.enum(JOB_STATUSES),
  message: z.string().min(1).max(4096),
  condition: z.enum(JOB_CONDITIONS).optional(),
  exitCodes: z.record(z.string(), z.number().int()).optional(),
});

/** See {@link statusChangeSchema}. */
export type StatusChangeRequest = z.infer<typeof statusChangeSchema>;

/** What processing a job's inputs found: enough for the orchestration to plan its steps. */
export interface PreparedJob {
  taskCount: number;
  pool: string;
  /** Whose job it is; absent in jobs prepared before per-user slots. */
  owner?: string;
  timeoutMinutes?: number;
  /** The job's own limits on waiting; absent: the deployment's (in the orchestration's input). */
  maxQueuedMinutes?: number;
  maxBlockedMinutes?: number;
  completeWhenTasksFinish: boolean;
  /** Absent in jobs prepared before tasks could be cancelled one by one. */
  allowCancelledTasks?: boolean;
}

/** A step that could not be done, and why, in the job's terms. */
export interface StepFailure {
  condition: JobCondition;
  message: string;
}

/** The outcome of a step that may fail the job or hold it (BLOCKED) instead of throwing. */
export type StepResult<T> =
  | ({ outcome: 'done' } & T)
  | { outcome: 'failed'; failure: StepFailure }
  | { outcome: 'blocked'; code: string; message: string; retryAfterMs?: number };

/** What a submission of some chunks did. */
export interface SubmitSummary {
  added: number;
  existing: number;
  rejected: Array<{ taskId: string; code: string; message: string }>;
}

/** What settling a job's tasks at its end found. */
export interface SettledTasks {
  counts: TaskCounts;
  /** Exit codes of failed tasks (the first hundred), by task id. */
  exitCodes: Record<string, number>;
  /**
   * How many CANCELLED tasks someone cancelled on their own (`POST .../tasks/{taskId}/cancel`);
   * absent in results recorded before that existed, which replay as none.
   */
  cancelledAlone?: number;
}

import { z } from 'zod';
import { JOB_CONDITIONS, JOB_STATUSES, TASK_STATUSES } from './lifecycle.js';

/**
 * The `job-events` message: one per job status change, written by the one activity that records
 * status changes. It carries everything a subscriber is told (CloudEvents `data`), so delivery
 * never reads the job again and a later change cannot leak into an earlier event.
 */
export const jobStatusChangedSchema = z.strictObject({
  /** `<jobId>:<sequence>`: stable, so a message sent twice is recognised downstream. */
  id: z.string().min(1),
  type: z.literal('job.status.changed'),
  jobId: z.string().min(1),
  name: z.string(),
  owner: z.string().min(1),
  previousStatus: z.enum(JOB_STATUSES).optional(),
  status: z.enum(JOB_STATUSES),
  condition: z.enum(JOB_CONDITIONS).optional(),
  message: z.string(),
  sequence: z.number().int().min(1),
  taskCount: z.number().int().min(0),
  taskCounts: z.record(z.enum(TASK_STATUSES), z.number().int().min(0)),
  exitCodes: z.record(z.string(), z.number().int()).optional(),
  at: z.iso.datetime({ offset: true }),
});

/** A job status change as subscribers are told of it; see {@link jobStatusChangedSchema}. */
export type JobStatusChanged = z.infer<typeof jobStatusChangedSchema>;

/**
 * A `job-events` message saying a job's task event log has grown (written by the handlers that
 * record task changes, only for owners who asked for task events). It wakes the subscriptions
 * that want such changes; what they are is read from the log, the truth.
 */
export const taskChangesLoggedSchema = z.strictObject({
  type: z.literal('task.status.changed'),
  jobId: z.string().min(1).max(64),
  owner: z.string().min(1).max(256),
  /** The statuses the tasks moved into, so only subscriptions wanting one of them are woken. */
  statuses: z.array(z.enum(TASK_STATUSES)).min(1),
  /** The log's last sequence number after the write. */
  through: z.number().int().min(1),
});

/** See {@link taskChangesLoggedSchema}. */
export type TaskChangesLogged = z.infer<typeof taskChangesLoggedSchema>;

/** Anything on the `job-events` queue: a job status change, or news of task changes. */
export const jobEventSchema = z.discriminatedUnion('type', [jobStatusChangedSchema, taskChangesLoggedSchema]);

/** See {@link jobEventSchema}. */
export type JobEvent = z.infer<typeof jobEventSchema>;

/**
 * The `task-events` message: a task of a job has news (its logs were uploaded, so an attempt
 * ended). It says which task, not what happened: the handler asks Batch, the truth.
 */
export const taskSignalSchema = z.strictObject({
  jobId: z.string().min(1).max(64),
  taskId: z.string().min(1).max(64),
  /** When the signal was raised; for latency figures only. */
  at: z.iso.datetime({ offset: true }).optional(),
});

/** See {@link taskSignalSchema}. */
export type TaskSignal = z.infer<typeof taskSignalSchema>;

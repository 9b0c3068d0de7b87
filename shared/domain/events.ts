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

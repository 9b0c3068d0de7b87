import { z } from 'zod';

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
} as const;

const jobId = z.string().min(1).max(64);

/** Input of the activities that need only the job. */
export const jobInputSchema = z.strictObject({ jobId });

/** Input of `submitChunks`: the chunks `[from, to)` of the job's plan. */
export const submitChunksInputSchema = z
  .strictObject({ jobId, from: z.number().int().min(0), to: z.number().int().min(1) })
  .refine((input) => input.to > input.from, { message: 'to must be greater than from', path: ['to'] });

/** Input of `controlBatchJob`. */
export const controlInputSchema = z.strictObject({
  jobId,
  action: z.enum(['terminate', 'disable', 'enable']),
});

/** Input of `settleTasks`: what tasks that never ran become. */
export const settleInputSchema = z.strictObject({ jobId, leftover: z.enum(['CANCELLED', 'SKIPPED']) });

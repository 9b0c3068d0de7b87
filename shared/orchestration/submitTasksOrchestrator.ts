import * as df from 'durable-functions';
import { z } from 'zod';
import type { OrchestrationContext, Task } from 'durable-functions';
import { ACTIVITY, type SubmitSummary } from './activities.js';

/** The sub-orchestration that submits a share of a very large job's chunks. */
export const SUBMIT_ORCHESTRATOR = 'submitTasksOrchestrator';

/** Input of {@link submitTasksOrchestrator}: chunks `[from, to)` of a job's plan. */
export const submitRangeSchema = z.strictObject({
  jobId: z.string().min(1),
  from: z.number().int().min(0),
  to: z.number().int().min(1),
  /** Chunks of the `set`-th addition of tasks to an open job; absent for its first tasks. */
  set: z.number().int().min(1).optional(),
});

/** See {@link submitRangeSchema}. */
export type SubmitRange = z.infer<typeof submitRangeSchema>;

// Submissions go out as at most this many activities, each taking a share of the chunks: a
// 100,000-task job is 1,000 chunks but 64 activities, which keeps the history small.
const MAX_SUBMIT_ACTIVITIES = 64;

/** How the orchestrations retry an activity that throws: passing faults, with backoff. */
export function activityRetry(): df.RetryOptions {
  const retry = new df.RetryOptions(2_000, 6);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = 60_000;
  return retry;
}

/** Fans a range of chunks out to at most 64 submission activities. */
export function* submitRange(
  context: OrchestrationContext,
  range: SubmitRange,
  retry: df.RetryOptions,
): Generator<Task, SubmitSummary[], unknown> {
  const { jobId, from, to, set } = range;
  const chunks = to - from;
  const per = Math.ceil(chunks / Math.min(chunks, MAX_SUBMIT_ACTIVITIES));
  const calls: Task[] = [];
  for (let start = from; start < to; start += per) {
    calls.push(
      context.df.callActivityWithRetry(ACTIVITY.submitChunks, retry, {
        jobId,
        from: start,
        to: Math.min(to, start + per),
        ...(set !== undefined ? { set } : {}),
      }),
    );
  }
  return (yield context.df.Task.all(calls)) as SubmitSummary[];
}

/** Submits a share of a very large job's chunks; returns what each activity reported. */
export function* submitTasksOrchestrator(
  context: OrchestrationContext,
): Generator<Task, SubmitSummary[], unknown> {
  const range = submitRangeSchema.parse(context.df.getInput());
  return yield* submitRange(context, range, activityRetry());
}

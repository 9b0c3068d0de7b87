import { FINAL_STATUSES, type Job, type JobStatusEvent, type ProgressEvent } from '../../client/index.js';

/**
 * A job record as a status change or new counts leave it. Counts are a summary read a moment
 * ago: they never take back a final status.
 */
export function withEvent(job: Job, event: JobStatusEvent | ProgressEvent): Job {
  const change = event.data.data;
  if (event.event === 'job.progress' && FINAL_STATUSES.includes(job.status)) return job;
  return {
    ...job,
    status: change.status,
    ...('message' in change ? { condition: change.condition, message: change.message } : {}),
    taskCounts: { ...job.taskCounts, ...change.taskCounts },
    updatedAt: event.data.time,
  };
}

import { ConflictError } from '../errors.js';
import type { JobStatusChanged } from '../domain/events.js';
import { jobStatusEvent } from '../domain/notifications.js';
import { isFinal } from '../domain/lifecycle.js';
import type { StatusChangeRequest } from '../orchestration/activities.js';
import { METRICS, noTelemetry, type Telemetry } from '../telemetry.js';
import type { JobRecord, JobStore } from '../store/jobStore.js';

/**
 * The event of a job's first state, PENDING, which submission records (no activity does): sent at
 * submission so subscribers hear of it at once rather than with the job's next change.
 */
export function submittedEvent(job: JobRecord): JobStatusChanged {
  return jobStatusEvent(job, {
    sequence: 1,
    status: 'PENDING',
    message: job.message,
    at: job.createdAt,
    taskCounts: job.taskCounts,
  });
}

/** What recording found, and the event that tells subscribers about it. */
export interface RecordedStatus {
  job: JobRecord;
  changed: boolean;
  event: JobStatusChanged;
}

/**
 * Records job status changes: the lifecycle rules, the history entry and the task counts of the
 * moment in one write, and the `job-events` message that carries it to subscribers.
 */
export class StatusRecorder {
  constructor(
    private readonly store: JobStore,
    private readonly now: () => Date = () => new Date(),
    private readonly telemetry: Telemetry = noTelemetry,
  ) {}

  /**
   * Records a change. Asking again for the status the job already has (an activity that ran
   * twice) changes nothing but still returns the event of that change, with the same id, so a
   * message lost with the first run is sent again and a duplicate is recognisable downstream.
   */
  async record(request: StatusChangeRequest): Promise<RecordedStatus> {
    const counts = await this.store.taskCounts(request.jobId);
    const { job, changed } = await this.store.recordStatus(request.jobId, {
      to: request.to,
      message: request.message,
      ...(request.condition ? { condition: request.condition } : {}),
      ...(request.exitCodes ? { exitCodes: request.exitCodes } : {}),
      ...(counts ? { taskCounts: counts } : {}),
      at: this.now().toISOString(),
    });
    const history = await this.store.history(request.jobId);
    const entry = history.at(-1);
    if (!entry || entry.status !== job.status) {
      throw new ConflictError(`job ${job.id}'s history does not end in its status`, 'HISTORY_MISMATCH');
    }
    const event = jobStatusEvent(job, {
      ...entry,
      taskCounts: entry.taskCounts ?? counts ?? job.taskCounts,
      ...(entry.exitCodes || !job.exitCodes ? {} : { exitCodes: job.exitCodes }),
    });
    if (changed) this.#report(event);
    return { job, changed, event };
  }

  /** A job's every change is a log line operators can follow it by; its end is also a metric. */
  #report(event: JobStatusChanged): void {
    const failed = event.status === 'FAILED';
    this.telemetry.log(
      failed ? 'warning' : 'information',
      `${event.previousStatus ?? 'new'} → ${event.status}: ${event.message}`,
      {
        jobId: event.jobId,
        owner: event.owner,
        status: event.status,
        previousStatus: event.previousStatus,
        condition: event.condition,
        sequence: event.sequence,
        ...(event.exitCodes ? { exitCodes: JSON.stringify(event.exitCodes) } : {}),
      },
    );
    if (isFinal(event.status)) {
      this.telemetry.metric(METRICS.jobsEnded, 1, {
        status: event.status,
        ...(event.condition ? { condition: event.condition } : {}),
      });
    }
  }
}

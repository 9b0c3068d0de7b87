/**
 * What the app tells its operators: log lines about jobs, each carrying the job's id (and the
 * task's) as properties that Application Insights shows as customDimensions, and a few metrics
 * worth alerting on. An adapter sends them to Azure Monitor, or to the console on one machine.
 */

/** The metrics the app reports, by the name Application Insights shows in customMetrics. */
export const METRICS = {
  /** A job was accepted (dimension `via`: how the caller was recognised, or `inbox`). */
  jobsSubmitted: 'cloudjobs.jobs.submitted',
  /** A job reached a final state (dimensions `status`, `condition`). */
  jobsEnded: 'cloudjobs.jobs.ended',
  /** Tasks reached a final state (dimension `status`); the value is how many. */
  tasksCompleted: 'cloudjobs.tasks.completed',
  /** A notification attempt failed and will be retried, or not (dimension `channel`). */
  deliveriesFailed: 'cloudjobs.deliveries.failed',
  /** A notification was given up on after its last attempt (dimension `channel`). */
  deliveriesDeadLettered: 'cloudjobs.deliveries.dead_lettered',
  /**
   * How long, in seconds, the job that has been longest in one non-final state has been in it;
   * reported on every reconcile pass, 0 when nothing is in flight (the stuck-job alert).
   */
  oldestStateAgeSeconds: 'cloudjobs.jobs.oldest_state_age_seconds',
} as const;

export type MetricName = (typeof METRICS)[keyof typeof METRICS];

/** Properties of a log line about a job: its id always, its task's where there is one. */
export interface JobLogFields {
  jobId: string;
  taskId?: string;
  [name: string]: string | number | boolean | undefined;
}

export type LogLevel = 'information' | 'warning' | 'error';

/** Where the app's telemetry goes. Implementations never throw: telemetry must not fail work. */
export interface Telemetry {
  /** A line about a job or one of its tasks. */
  log(level: LogLevel, message: string, fields: JobLogFields): void;
  /** Adds `value` to a counter, or records a measurement, with its dimensions. */
  metric(name: MetricName, value: number, dimensions?: Record<string, string>): void;
}

/** Telemetry that goes nowhere, for tests that do not look at it. */
export const noTelemetry: Telemetry = { log: () => undefined, metric: () => undefined };

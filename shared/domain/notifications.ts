import type { JobStatusChanged } from './events.js';
import { TASK_STATUSES, type JobCondition, type JobStatus, type TaskStatus } from './lifecycle.js';

/**
 * What notification delivery decides without touching the network: the event a history entry
 * becomes, the CloudEvent and email that carry it, what a response means, and when to try again.
 */

/** A recorded job status change, as the job's history keeps it. */
export interface RecordedChange {
  sequence: number;
  status: JobStatus;
  previousStatus?: JobStatus;
  condition?: JobCondition;
  message: string;
  at: string;
  /** The task counts at the change (absent on entries recorded before counts were kept). */
  taskCounts?: Record<TaskStatus, number>;
  /** Exit codes of failed tasks, on the change that ended the job. */
  exitCodes?: Record<string, number>;
  /**
   * How far the job's task event log had got when this change was recorded: task events up to
   * here happened before it, later ones after. Absent means none had been logged.
   */
  taskSequence?: number;
}

/** A task's recorded status change, as the job's task event log keeps it. */
export interface RecordedTaskChange {
  /** Its place in the job's task event log, from 1. */
  sequence: number;
  taskId: string;
  status: TaskStatus;
  previousStatus: TaskStatus;
  /** The attempt the status belongs to, from 1. */
  attempt: number;
  exitCode?: number;
  failure?: { code: string; message: string };
  at: string;
}

/** The facts of a job that do not change over its life. */
export interface JobFacts {
  id: string;
  name: string;
  owner: string;
  taskCount: number;
}

/** The id of a job's change: `<jobId>:<sequence>`, the same for every delivery of it. */
export const changeId = (jobId: string, sequence: number): string => `${jobId}:${sequence}`;

/**
 * The event a recorded change is told as. Built from the history entry alone, so an event
 * delivered a day late says what was true at the change, not what is true now.
 */
export function jobStatusEvent(job: JobFacts, change: RecordedChange): JobStatusChanged {
  return {
    id: changeId(job.id, change.sequence),
    type: 'job.status.changed',
    jobId: job.id,
    name: job.name,
    owner: job.owner,
    ...(change.previousStatus ? { previousStatus: change.previousStatus } : {}),
    status: change.status,
    ...(change.condition ? { condition: change.condition } : {}),
    message: change.message,
    sequence: change.sequence,
    taskCount: job.taskCount,
    taskCounts: change.taskCounts ?? noCounts(),
    ...(change.exitCodes ? { exitCodes: change.exitCodes } : {}),
    at: change.at,
  };
}

const noCounts = () =>
  Object.fromEntries(TASK_STATUSES.map((status) => [status, 0])) as Record<TaskStatus, number>;

/** The id of a task change: `<jobId>:t<sequence>`, the same for every delivery of it. */
export const taskChangeId = (jobId: string, sequence: number): string => `${jobId}:t${sequence}`;

/** A task status change as subscribers are told of it. */
export interface TaskStatusChanged {
  id: string;
  type: 'task.status.changed';
  jobId: string;
  /** The job's name. */
  name: string;
  owner: string;
  taskId: string;
  previousStatus: TaskStatus;
  status: TaskStatus;
  attempt: number;
  exitCode?: number;
  failure?: { code: string; message: string };
  /** Its place in the job's task event log. */
  sequence: number;
  at: string;
}

/** The event a recorded task change is told as. */
export function taskStatusEvent(job: JobFacts, change: RecordedTaskChange): TaskStatusChanged {
  return {
    id: taskChangeId(job.id, change.sequence),
    type: 'task.status.changed',
    jobId: job.id,
    name: job.name,
    owner: job.owner,
    taskId: change.taskId,
    previousStatus: change.previousStatus,
    status: change.status,
    attempt: change.attempt,
    ...(change.exitCode !== undefined ? { exitCode: change.exitCode } : {}),
    ...(change.failure ? { failure: change.failure } : {}),
    sequence: change.sequence,
    at: change.at,
  };
}

/** A CloudEvents 1.0 event in structured mode (`application/cloudevents+json`). */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: Record<string, unknown>;
}

/** The media type of a structured-mode CloudEvent body. */
export const CLOUDEVENTS_JSON = 'application/cloudevents+json';

/** The webhook body of a job event, per the contract: `cloudjobs.<type>` from `/jobs/<id>`. */
export function toCloudEvent(event: JobStatusChanged): CloudEvent {
  const { id: _id, type, at, ...data } = event;
  return {
    specversion: '1.0',
    id: event.id,
    source: `/jobs/${event.jobId}`,
    type: `cloudjobs.${type}`,
    subject: event.status,
    time: at,
    datacontenttype: 'application/json',
    data: {
      ...data,
      links: { job: `/api/jobs/${event.jobId}`, history: `/api/jobs/${event.jobId}/history` },
    },
  };
}

/** The media type of a batch of CloudEvents (a JSON array), how task events are sent. */
export const CLOUDEVENTS_BATCH_JSON = 'application/cloudevents-batch+json';

/**
 * The CloudEvent of a task change: `cloudjobs.task.status.changed` from `/jobs/<id>`, subject
 * `tasks/<taskId>`, with links to the task's logs.
 */
export function toTaskCloudEvent(event: TaskStatusChanged): CloudEvent {
  const { id: _id, type, at, ...data } = event;
  const task = `/api/jobs/${event.jobId}/tasks/${encodeURIComponent(event.taskId)}`;
  return {
    specversion: '1.0',
    id: event.id,
    source: `/jobs/${event.jobId}`,
    type: `cloudjobs.${type}`,
    subject: `tasks/${event.taskId}`,
    time: at,
    datacontenttype: 'application/json',
    data: {
      ...data,
      links: {
        job: `/api/jobs/${event.jobId}`,
        stdout: `${task}/logs/stdout`,
        stderr: `${task}/logs/stderr`,
      },
    },
  };
}

/** An email telling the same facts as the webhook, in words. */
export interface EmailMessage {
  subject: string;
  text: string;
}

/**
 * The email for a job event: which job, which state, why, and where to look. `baseUrl` makes the
 * links absolute when the deployment knows its public address.
 */
export function toEmail(event: JobStatusChanged, baseUrl?: string): EmailMessage {
  const jobUrl = `${baseUrl ?? ''}/api/jobs/${event.jobId}`;
  const counts = Object.entries(event.taskCounts)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${status.toLowerCase()} ${n}`)
    .join(', ');
  const exitCodes = Object.entries(event.exitCodes ?? {});
  const lines = [
    `Job ${event.name} (${event.jobId}) is now ${event.status}` +
      (event.previousStatus ? `, was ${event.previousStatus}.` : '.'),
    '',
    `Why: ${event.message}`,
    ...(event.condition ? [`Condition: ${event.condition}`] : []),
    `Tasks: ${event.taskCount}${counts ? ` (${counts})` : ''}`,
    ...(exitCodes.length > 0
      ? [
          `Failed tasks and exit codes: ${exitCodes
            .slice(0, 20)
            .map(([task, code]) => `${task}=${code}`)
            .join(', ')}${exitCodes.length > 20 ? ', …' : ''}`,
        ]
      : []),
    `At: ${event.at} (change ${event.sequence})`,
    '',
    `The job: ${jobUrl}`,
    `Its history: ${jobUrl}/history`,
    `Its tasks and logs: ${jobUrl}/tasks`,
  ];
  return {
    subject: `[cloudjobs] ${event.name} ${event.status}${event.condition ? ` (${event.condition})` : ''}`,
    text: `${lines.join('\n')}\n`,
  };
}

/**
 * One email for a run of task changes (a webhook gets them as one batch too): a message per
 * change would bury the reader of a 10,000-task job.
 */
export function toTaskEmail(events: readonly TaskStatusChanged[], baseUrl?: string): EmailMessage {
  const first = events[0];
  if (!first) throw new Error('a task email needs at least one event');
  const jobUrl = `${baseUrl ?? ''}/api/jobs/${first.jobId}`;
  const byStatus = new Map<string, number>();
  for (const event of events) byStatus.set(event.status, (byStatus.get(event.status) ?? 0) + 1);
  const summary = [...byStatus].map(([status, n]) => `${n} ${status}`).join(', ');
  const lines = [
    `${events.length === 1 ? 'A task' : `${events.length} tasks`} of job ${first.name} (${first.jobId}) changed: ${summary}.`,
    '',
    ...events.map(
      (event) =>
        `${event.taskId}: ${event.previousStatus} -> ${event.status}` +
        (event.attempt > 1 ? ` (attempt ${event.attempt})` : '') +
        (event.exitCode !== undefined ? `, exit code ${event.exitCode}` : '') +
        (event.failure ? `, ${event.failure.code}: ${event.failure.message}` : '') +
        ` at ${event.at}`,
    ),
    '',
    `The job: ${jobUrl}`,
    `Its tasks and logs: ${jobUrl}/tasks`,
    ...(events.length === 1
      ? [`This task's output: ${jobUrl}/tasks/${encodeURIComponent(first.taskId)}/logs/stdout`]
      : []),
  ];
  return {
    subject:
      events.length === 1
        ? `[cloudjobs] ${first.name}: task ${first.taskId} ${first.status}`
        : `[cloudjobs] ${first.name}: ${events.length} task changes (${summary})`,
    text: `${lines.join('\n')}\n`,
  };
}

/** What an attempt's answer means for the delivery. */
export type AttemptOutcome = 'delivered' | 'gone' | 'failed';

/** Any 2xx delivers; 410 Gone says the endpoint is retired for good; anything else is tried again. */
export function outcomeOf(statusCode: number): AttemptOutcome {
  if (statusCode >= 200 && statusCode < 300) return 'delivered';
  if (statusCode === 410) return 'gone';
  return 'failed';
}

/**
 * Seconds between attempts: after the first fails, three quick tries (5 s, 30 s, then 5 min),
 * then spaced ones for about a day (30 min, 2 h, 5 h, 10 h, 10 h): nine attempts over ~27.6 h
 * before the delivery is dead-lettered. Quick tries ride out a restart; spaced ones an outage.
 */
export const DEFAULT_RETRY_SCHEDULE_SECONDS: readonly number[] = [
  5, 30, 300, 1800, 7200, 18000, 36000, 36000,
];

/** How far a retry's wait may stray either way, so endpoints that fail together do not retry together. */
export const RETRY_JITTER = 0.2;

/**
 * When to try again after `attemptsMade` failed attempts, in milliseconds; undefined when the
 * schedule is spent and the delivery is dead-lettered. `random` is in [0, 1).
 */
export function retryDelayMs(
  attemptsMade: number,
  schedule: readonly number[],
  random: number,
): number | undefined {
  const seconds = schedule[attemptsMade - 1];
  if (seconds === undefined || attemptsMade < 1) return undefined;
  const factor = 1 + RETRY_JITTER * (2 * random - 1);
  return Math.max(0, Math.round(seconds * 1000 * factor));
}

/** Parses a retry schedule: comma-separated waits in seconds, e.g. `5,30,300`. */
export function parseRetrySchedule(value: string): number[] {
  const parts = value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  const waits = parts.map(Number);
  if (waits.some((n) => !Number.isFinite(n) || n < 0 || n > 7 * 24 * 3600)) {
    throw new Error('must be comma-separated waits in seconds, each between 0 and 604800');
  }
  return waits;
}

import { ValidationError } from '../errors.js';
import { isFinal, type JobStatus, type TaskStatus } from './lifecycle.js';
import {
  jobStatusEvent,
  taskStatusEvent,
  toCloudEvent,
  toTaskCloudEvent,
  type CloudEvent,
  type JobFacts,
  type RecordedChange,
  type RecordedTaskChange,
} from './notifications.js';

/**
 * A job's live event stream as pure rules: where a reader is, which events come next, and how
 * each is written as a Server-Sent Event. A job keeps two logs, its history (status changes) and
 * its task event log; the stream interleaves them the way notification delivery does (a job
 * change goes after the task changes logged before it), and a reader's place is one position in
 * each, so a reader that comes back names where it was and misses nothing, whatever arrived late.
 */

/** How far a reader has read: the job's history and its task event log, by sequence number. */
export interface StreamCursor {
  /** The last history entry read (0 before the first). */
  job: number;
  /** The last task event log entry read (0 before the first). */
  tasks: number;
}

/** The position before every event. */
export const STREAM_START: StreamCursor = { job: 0, tasks: 0 };

/** A cursor as an SSE event id: `<job>.<tasks>`, e.g. `7.1250`. */
export const formatCursor = (cursor: StreamCursor): string => `${cursor.job}.${cursor.tasks}`;

const CURSOR = /^(\d{1,9})\.(\d{1,12})$/;

/**
 * Reads a `Last-Event-ID` (or the `lastEventId` query parameter, for clients that cannot set
 * headers); `field` names where it came from in the error.
 */
export function parseCursor(value: string | null | undefined, field: string): StreamCursor {
  if (value === null || value === undefined || value.trim() === '') return STREAM_START;
  const match = CURSOR.exec(value.trim());
  if (!match) {
    throw new ValidationError(`${field} is not an event id of this stream`, [
      { path: field, message: 'must be an event id this stream sent, such as 7.1250' },
    ]);
  }
  return { job: Number(match[1]), tasks: Number(match[2]) };
}

/** The kinds of event a job stream carries. */
export type StreamEventName = 'job.status.changed' | 'task.status.changed' | 'job.progress';

/** One event of the stream: its id (the cursor after it), its name and its CloudEvent. */
export interface StreamEvent {
  id: string;
  event: StreamEventName;
  data: CloudEvent;
  /** The log entry it tells, so a server can write an event once for every reader. */
  source?: RecordedChange | RecordedTaskChange;
}

/** What {@link nextEvents} makes of the entries read past a cursor. */
export interface MergeResult {
  events: StreamEvent[];
  cursor: StreamCursor;
  /** A history entry is waiting for task entries not yet read (the task page was cut short). */
  needMoreTasks: boolean;
  /** The job's final status was among the events: nothing follows it. */
  ended: boolean;
}

/**
 * The events after `cursor`, in order, from history entries and task log entries read past it.
 * `tasksComplete` says whether `tasks` holds every task entry logged so far; when it does not, a
 * history entry logged after the last task entry read must wait for the next page, or it would
 * overtake task changes that happened before it.
 */
export function nextEvents(
  job: JobFacts,
  cursor: StreamCursor,
  history: readonly RecordedChange[],
  tasks: readonly RecordedTaskChange[],
  tasksComplete: boolean,
): MergeResult {
  const events: StreamEvent[] = [];
  let at = { ...cursor };
  let ended = false;
  let t = 0;
  const takeTask = (entry: RecordedTaskChange) => {
    at = { ...at, tasks: entry.sequence };
    events.push({
      id: formatCursor(at),
      event: 'task.status.changed',
      data: toTaskCloudEvent(taskStatusEvent(job, entry)),
      source: entry,
    });
  };
  const pending = tasks.filter((entry) => entry.sequence > cursor.tasks);
  for (const entry of history) {
    if (entry.sequence <= cursor.job) continue;
    const bound = entry.taskSequence ?? 0;
    while (t < pending.length && pending[t]!.sequence <= bound) takeTask(pending[t++]!);
    if (t === pending.length && !tasksComplete && at.tasks < bound) {
      return { events, cursor: at, needMoreTasks: true, ended: false };
    }
    at = { ...at, job: entry.sequence };
    events.push({
      id: formatCursor(at),
      event: 'job.status.changed',
      data: toCloudEvent(jobStatusEvent(job, entry)),
      source: entry,
    });
    if (isFinal(entry.status)) {
      ended = true;
      break;
    }
  }
  // Task changes are settled before a job ends, so none belongs after its final status.
  if (!ended) while (t < pending.length) takeTask(pending[t++]!);
  return { events, cursor: at, needMoreTasks: false, ended };
}

/** A job's task counts now, as the stream tells them when it has caught up. */
export interface Progress {
  status: JobStatus;
  taskCounts: Record<TaskStatus, number>;
  at: string;
}

/** The data of a `job.progress` CloudEvent. */
export interface ProgressData {
  jobId: string;
  name: string;
  owner: string;
  status: JobStatus;
  taskCount: number;
  taskCounts: Record<TaskStatus, number>;
  links: { job: string; tasks: string };
}

/**
 * The `job.progress` event: the job's task counts as they stood when the stream caught up, for
 * progress bars. Its id is the stream's position when it was read (a job stream's cursor, an
 * owner stream's log position), so a reader that resumes from it misses no change, and is told
 * the counts again when it catches up.
 */
export function progressEvent(job: JobFacts, id: string, progress: Progress): StreamEvent {
  return {
    id,
    event: 'job.progress',
    data: {
      specversion: '1.0',
      id: `${job.id}:p${id}`,
      source: `/jobs/${job.id}`,
      type: 'cloudjobs.job.progress',
      subject: progress.status,
      time: progress.at,
      datacontenttype: 'application/json',
      data: {
        jobId: job.id,
        name: job.name,
        owner: job.owner,
        status: progress.status,
        taskCount: job.taskCount,
        taskCounts: progress.taskCounts,
        links: { job: `/api/jobs/${job.id}`, tasks: `/api/jobs/${job.id}/tasks` },
      } satisfies ProgressData,
    },
  };
}

/** How long a client waits before reconnecting after the stream ends or breaks, in ms. */
export const RECONNECT_MS = 2000;

/** The stream's first bytes: tells EventSource clients how soon to come back after a break. */
export const sseRetry = (ms: number = RECONNECT_MS): string => `retry: ${ms}\n\n`;

/** An event as written on the wire. JSON has no raw newlines, so `data:` is one line. */
export function formatSse(event: StreamEvent): string {
  return `id: ${event.id}\nevent: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** A comment line: keeps proxies and load balancers from closing an idle stream. */
export const sseHeartbeat = (): string => ': heartbeat\n\n';

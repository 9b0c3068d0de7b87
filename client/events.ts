import type { JobStatusChanged } from '../shared/domain/events.js';
import type { ProgressData } from '../shared/domain/jobStream.js';
import type { TaskStatusChanged } from '../shared/domain/notifications.js';

/** A CloudEvent of type `T` carrying `D`, as webhooks and event streams send them. */
export interface CloudEventOf<T extends string, D> {
  specversion: '1.0';
  id: string;
  source: string;
  type: T;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: D;
}

type Links<K extends string> = { links: Record<K, string> };

/** A job's status changed. */
export interface JobStatusEvent {
  id: string;
  event: 'job.status.changed';
  data: CloudEventOf<
    'cloudjobs.job.status.changed',
    Omit<JobStatusChanged, 'id' | 'type' | 'at'> & Links<'job' | 'history'>
  >;
}

/** A task's status changed. */
export interface TaskStatusEvent {
  id: string;
  event: 'task.status.changed';
  data: CloudEventOf<
    'cloudjobs.task.status.changed',
    Omit<TaskStatusChanged, 'id' | 'type' | 'at'> & Links<'job' | 'stdout' | 'stderr'>
  >;
}

/** The job's task counts, whenever the stream has caught up. */
export interface ProgressEvent {
  id: string;
  event: 'job.progress';
  data: CloudEventOf<'cloudjobs.job.progress', ProgressData>;
}

/** One event of a job's stream. */
export type JobEvent = JobStatusEvent | TaskStatusEvent | ProgressEvent;

/** One block of a `text/event-stream`, its fields as sent. */
export interface SseBlock {
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
}

/**
 * Reads a `text/event-stream` body block by block (the WHATWG rules: `\n`, `\r\n` or `\r` line
 * ends, `data:` lines joined, comments skipped, one optional space after the colon).
 */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseBlock> {
  const decoder = new TextDecoder();
  let buffer = '';
  let block: SseBlock = {};
  let data: string[] = [];
  const line = (text: string): SseBlock | undefined => {
    if (text === '') {
      const done = data.length > 0 ? { ...block, data: data.join('\n') } : block;
      block = {};
      data = [];
      return Object.keys(done).length > 0 ? done : undefined;
    }
    if (text.startsWith(':')) return undefined;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? '' : text.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) block.id = value;
    else if (field === 'event') block.event = value;
    else if (field === 'retry' && /^\d+$/.test(value)) block.retry = Number(value);
    return undefined;
  };
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A lone \r at the very end may be half of \r\n: wait for the next chunk.
      if (buffer[end] === '\r' && end === buffer.length - 1) break;
      const text = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
      const done = line(text);
      if (done) yield done;
    }
  }
}

const NAMES = new Set(['job.status.changed', 'task.status.changed', 'job.progress']);

/** The typed event of a block, or undefined for one this client does not know (skipped). */
export function toJobEvent(block: SseBlock): JobEvent | undefined {
  if (!block.event || !NAMES.has(block.event) || block.data === undefined) return undefined;
  return { id: block.id ?? '', event: block.event, data: JSON.parse(block.data) as unknown } as JobEvent;
}

import type { Caller } from '../identity.js';
import {
  formatCursor,
  formatSse,
  nextEvents,
  progressEvent,
  sseHeartbeat,
  sseRetry,
  type StreamCursor,
  type StreamEvent,
} from '../domain/jobStream.js';
import type { JobFacts, RecordedTaskChange } from '../domain/notifications.js';
import type { JobRecord } from '../store/jobStore.js';
import { TASK_LOG_PAGE, type FeedStore, type JobFeed, type JobFeeds } from './jobFeeds.js';

/** How a job's event stream behaves. */
export interface JobStreamsOptions {
  /** The job the caller may see, or JOB_NOT_FOUND (the API's own rule). */
  job: (caller: Caller, id: string) => Promise<JobRecord>;
  store: Pick<FeedStore, 'taskLog'>;
  feeds: JobFeeds;
  /** A comment is sent after this long without an event, so idle connections are not cut. */
  heartbeatMs: number;
  /**
   * A stream ends after this long and the client reconnects with its last event id: a host cuts
   * long requests, and it cannot tell the app that a client went away.
   */
  maxStreamMs: number;
}

/**
 * Serves a job's events as Server-Sent Events: what happened after the reader's cursor first
 * (from the process's feed of the job, or the store when the reader is further behind), then
 * changes as they are recorded, until the job's final status.
 */
export class JobStreams {
  /**
   * Events as written, by the log entry they tell: every reader of a job is sent the same text,
   * so it is made once. Held weakly: a feed's entries go when it lets them go.
   */
  readonly #written = new WeakMap<object, { id: string; text: string }>();

  constructor(private readonly o: JobStreamsOptions) {}

  #format(event: StreamEvent): string {
    const cached = event.source && this.#written.get(event.source);
    if (cached?.id === event.id) return cached.text;
    const text = formatSse(event);
    if (event.source) this.#written.set(event.source, { id: event.id, text });
    return text;
  }

  /**
   * Opens the stream of job `id` for `caller` after `cursor`. Throws JOB_NOT_FOUND before
   * anything is sent, so the answer can still be a 404; the stream itself never throws.
   */
  async open(caller: Caller, id: string, cursor: StreamCursor): Promise<AsyncIterable<string>> {
    const job = await this.o.job(caller, id);
    return this.#stream({ id: job.id, name: job.name, owner: job.owner, taskCount: job.taskCount }, cursor);
  }

  async *#stream(facts: JobFacts, from: StreamCursor): AsyncGenerator<string> {
    const feed = this.o.feeds.acquire(facts.id);
    const deadline = Date.now() + this.o.maxStreamMs;
    let cursor = from;
    let told = '';
    try {
      yield sseRetry();
      await feed.ready;
      for (;;) {
        // What the feed held when this round read it: a change after that is waited for by no one.
        const seen = feed.version;
        const caught = await this.#catchUp(facts, feed, cursor);
        cursor = caught.cursor;
        if (caught.text) yield caught.text;
        if (caught.ended || (feed.over && caught.caughtUp)) return;
        const progress = feed.progress;
        const key = progress && `${progress.status}|${JSON.stringify(progress.taskCounts)}`;
        if (progress && key !== told && caught.caughtUp) {
          told = key!;
          yield formatSse(progressEvent(facts, formatCursor(cursor), progress));
        }
        if (!caught.caughtUp) continue;
        const left = deadline - Date.now();
        if (left <= 0) return;
        if ((await feed.next(Math.min(this.o.heartbeatMs, left), seen)) === 'timeout') {
          if (Date.now() >= deadline) return;
          yield sseHeartbeat();
        }
      }
    } finally {
      this.o.feeds.release(feed);
    }
  }

  /**
   * The events past `cursor` the feed knows of, as one chunk of text. A reader behind the feed's
   * window reads a page of the task log from the store per call, so a long replay streams out
   * page by page rather than all at once.
   */
  async #catchUp(
    facts: JobFacts,
    feed: JobFeed,
    cursor: StreamCursor,
  ): Promise<{ text: string; cursor: StreamCursor; caughtUp: boolean; ended: boolean }> {
    let tasks: readonly RecordedTaskChange[];
    let complete: boolean;
    if (cursor.tasks + 1 >= feed.windowStart || cursor.tasks >= feed.head) {
      // The window holds consecutive entries: the reader's next one is at a known index.
      tasks = feed.window.slice(Math.max(0, cursor.tasks + 1 - feed.windowStart));
      complete = true;
    } else {
      tasks = await this.o.store.taskLog(facts.id, { after: cursor.tasks, limit: TASK_LOG_PAGE });
      complete = tasks.length < TASK_LOG_PAGE;
    }
    const merged = nextEvents(facts, cursor, feed.history, tasks, complete);
    return {
      text: merged.events.map((event) => this.#format(event)).join(''),
      cursor: merged.cursor,
      caughtUp: !merged.needMoreTasks && merged.cursor.tasks >= feed.head,
      ended: merged.ended,
    };
  }
}

import { isFinal, TASK_STATUSES } from '../domain/lifecycle.js';
import type { Progress } from '../domain/jobStream.js';
import type { HistoryEntry, JobRecord, JobStore, TaskLogEntry } from '../store/jobStore.js';

/** What a feed reads: the job, its two logs and its counts. */
export type FeedStore = Pick<JobStore, 'getJob' | 'history' | 'taskLog' | 'taskCounts'>;

/** How a feed hub behaves. */
export interface JobFeedsOptions {
  store: FeedStore;
  /**
   * How often a watched job is read again when no change is heard of in this process: changes
   * recorded by another instance arrive at most this late.
   */
  pollMs: number;
  /** Task log entries a feed keeps in memory for readers close behind; older ones are read again. */
  windowEntries?: number;
  /**
   * Says that someone follows the job live, so its task changes are logged for the stream: when a
   * feed starts, and every `watchRenewMs` (60 s unless given) while it is read.
   */
  watch?: (jobId: string) => Promise<void>;
  watchRenewMs?: number;
  /** Reads of one job are at least this far apart (100 ms unless given), however often nudged. */
  minRefreshMs?: number;
}

type Settings = Required<Pick<JobFeedsOptions, 'windowEntries' | 'watchRenewMs' | 'minRefreshMs'>> &
  JobFeedsOptions;

/** Task log entries read per request. */
export const TASK_LOG_PAGE = 1000;

/**
 * What one process knows of one watched job, shared by every stream on it: a stream reads its
 * past from here (or from the store, when it is further behind than the window) and waits here
 * for news, so 200 streams on a job cost one reader, not 200.
 */
export class JobFeed {
  /** The job record, as of the last read; undefined once it is deleted. */
  job: JobRecord | undefined;
  history: HistoryEntry[] = [];
  /** The most recent task log entries, consecutive, ending at {@link head}. */
  window: TaskLogEntry[] = [];
  /** The last task log entry read (0 before the first). */
  head = 0;
  progress: Progress | undefined;
  /** Counts each read that found something new. */
  version = 0;
  /** The first read has finished (successfully or not). */
  readonly ready: Promise<void>;
  /** Why the last read failed, if it did. */
  error: unknown;
  listeners = 0;
  #wake: Array<() => void> = [];
  #markReady!: () => void;

  constructor(
    readonly id: string,
    private readonly o: Settings,
  ) {
    this.ready = new Promise((resolve) => (this.#markReady = resolve));
  }

  /** The first sequence number the window holds. */
  get windowStart(): number {
    return this.head - this.window.length + 1;
  }

  /** Whether the job has reached a final status (or is gone): nothing more will come. */
  get over(): boolean {
    const last = this.history.at(-1);
    return this.job === undefined || (last !== undefined && isFinal(last.status));
  }

  /**
   * Reads what is new: history first, then the task log. A history entry names how far the task
   * log had got when it was recorded; reading the log after the history makes sure every task
   * entry such a bound names has been read.
   */
  async refresh(): Promise<void> {
    try {
      const [job, read] = await Promise.all([
        this.o.store.getJob(this.id),
        this.o.store.history(this.id).then(
          (entries) => ({ entries }),
          (error: unknown) => ({ error }),
        ),
      ]);
      if (!job) {
        // Deleted: streams on it end.
        if (this.job !== undefined || this.version === 0) this.#gone();
        return;
      }
      if ('error' in read) throw read.error;
      const history = read.entries;
      let head = this.head;
      const fresh: TaskLogEntry[] = [];
      for (;;) {
        const page = await this.o.store.taskLog(this.id, { after: head, limit: TASK_LOG_PAGE });
        fresh.push(...page);
        head = page.at(-1)?.sequence ?? head;
        if (page.length < TASK_LOG_PAGE) break;
      }
      let moved = fresh.length > 0 || history.length !== this.history.length || job.etag !== this.job?.etag;
      // Counts move with every task change, logged or not; an ended job's no longer do.
      const counts =
        moved || !isFinal(job.status) || !this.progress
          ? ((await this.o.store.taskCounts(this.id)) ?? job.taskCounts)
          : this.progress.taskCounts;
      if (
        !this.progress ||
        this.progress.status !== job.status ||
        TASK_STATUSES.some((status) => counts[status] !== this.progress!.taskCounts[status])
      ) {
        this.progress = { status: job.status, taskCounts: counts, at: new Date().toISOString() };
        moved = true;
      }
      this.job = job;
      this.history = history;
      if (fresh.length > 0) {
        this.window = [...this.window, ...fresh].slice(-this.o.windowEntries);
        this.head = head;
      }
      this.error = undefined;
      if (moved) this.#changed();
    } catch (error) {
      this.error = error;
    } finally {
      this.#markReady();
    }
  }

  /** Resolves at the first change after version `seen` (at once if there is one), or after `ms`. */
  next(ms: number, seen: number): Promise<'changed' | 'timeout'> {
    // A change made after the reader looked and before it waits must not wait for the next one.
    if (this.version !== seen) return Promise.resolve('changed');
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve('changed');
      };
      const timer = setTimeout(() => {
        this.#wake = this.#wake.filter((wake) => wake !== done);
        resolve('timeout');
      }, ms);
      this.#wake.push(done);
    });
  }

  #gone(): void {
    this.job = undefined;
    this.#changed();
  }

  #changed(): void {
    this.version++;
    const wake = this.#wake;
    this.#wake = [];
    for (const resolve of wake) resolve();
  }
}

/**
 * The feeds of the jobs this process's streams watch. A feed is read while someone watches it:
 * at once when this process records a change of the job ({@link JobFeeds.nudge}), and every
 * `pollMs` for changes recorded elsewhere.
 */
export class JobFeeds {
  readonly #feeds = new Map<string, { feed: JobFeed; nudge: () => void; stop: () => void }>();
  readonly #o: Settings;

  constructor(options: JobFeedsOptions) {
    this.#o = { windowEntries: 20_000, watchRenewMs: 60_000, minRefreshMs: 100, ...options };
  }

  /** The feed of job `id`, read until every {@link release} matches an acquire. */
  acquire(id: string): JobFeed {
    let entry = this.#feeds.get(id);
    if (!entry) {
      entry = this.#start(id);
      this.#feeds.set(id, entry);
    }
    entry.feed.listeners++;
    return entry.feed;
  }

  release(feed: JobFeed): void {
    feed.listeners--;
    const entry = this.#feeds.get(feed.id);
    if (feed.listeners <= 0 && entry?.feed === feed) {
      this.#feeds.delete(feed.id);
      entry.stop();
    }
  }

  /** Something of job `id` was recorded in this process: read it now, if anyone watches. */
  nudge(id: string): void {
    this.#feeds.get(id)?.nudge();
  }

  /** How many jobs are watched, for tests and figures. */
  get watched(): number {
    return this.#feeds.size;
  }

  #start(id: string): { feed: JobFeed; nudge: () => void; stop: () => void } {
    const feed = new JobFeed(id, this.#o);
    let stopped = false;
    let again = false;
    let wake: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const nudge = () => {
      again = true;
      wake?.();
    };
    let marked = -Infinity;
    const loop = async () => {
      while (!stopped) {
        const started = Date.now();
        if (this.#o.watch && started - marked >= this.#o.watchRenewMs) {
          marked = started;
          // A mark that fails is tried again at the next renewal; the stream goes on meanwhile.
          void this.#o.watch(id).catch(() => (marked = -Infinity));
        }
        again = false;
        await feed.refresh();
        const rest = Math.max(0, this.#o.minRefreshMs - (Date.now() - started));
        // A nudge during the read may be for something the read missed: read again soon.
        const wait = again ? rest : this.#o.pollMs;
        if (stopped) break;
        await new Promise<void>((resolve) => {
          wake = () => setTimeout(resolve, Math.max(0, this.#o.minRefreshMs - (Date.now() - started)));
          timer = setTimeout(resolve, wait);
        });
        clearTimeout(timer);
        wake = undefined;
      }
    };
    void loop();
    return {
      feed,
      nudge,
      stop: () => {
        stopped = true;
        wake?.();
      },
    };
  }
}

import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { ownerSchema, requestedOwner, type Caller } from '../identity.js';
import { isFinal, JOB_STATUSES, type JobStatus } from '../domain/lifecycle.js';
import { formatSse, progressEvent, sseHeartbeat, sseRetry, type Progress } from '../domain/jobStream.js';
import { jobStatusEvent, toCloudEvent, type JobFacts } from '../domain/notifications.js';
import type { HistoryEntry, JobRecord, JobStore, OwnerChange } from '../store/jobStore.js';

/** Query of `GET /events`. */
export const ownerEventsQuerySchema = z.strictObject({
  status: z.enum(JOB_STATUSES).optional().describe('only changes into this status'),
  name: z.string().min(1).max(128).optional().describe('only jobs of this name'),
  owner: ownerSchema.optional().describe('admins only: this owner’s jobs'),
  lastEventId: z
    .string()
    .regex(/^\d{1,15}$/, 'must be an event id this stream sent')
    .optional()
    .describe('resume after this event, for clients that cannot send Last-Event-ID'),
});

/** Reads a `Last-Event-ID` of the owner stream: a position in the owner's change log. */
export function parseOwnerCursor(value: string | null | undefined, field: string): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  if (!/^\d{1,15}$/.test(value.trim())) {
    throw new ValidationError(`${field} is not an event id of this stream`, [
      { path: field, message: 'must be an event id this stream sent, such as 1250' },
    ]);
  }
  return Number(value.trim());
}

export interface OwnerStreamsOptions {
  store: Pick<JobStore, 'ownerChanges' | 'ownerHead' | 'getJob' | 'history' | 'listInFlight' | 'taskCounts'>;
  heartbeatMs: number;
  maxStreamMs: number;
  /** How often a stream looks for changes recorded by other instances. */
  pollMs: number;
  /** How often the task counts of the owner's unfinished jobs are read for `job.progress`. */
  progressMs: number;
}

/** Changes read per request of the owner's log. */
const PAGE = 500;

/** Unfinished jobs of one owner whose progress is told: past this many, the rest are not. */
export const PROGRESS_JOBS = 100;

/** The progress of an owner's unfinished jobs, as last read. */
type OwnerProgress = Array<{ facts: JobFacts; progress: Progress }>;

/**
 * Every job of a caller as one Server-Sent Event stream (`GET /events`), for dashboards and
 * `cloudjobs watch`: each job status change, in the order the owner's change log recorded them,
 * with the webhook's CloudEvent as data. Without a cursor it starts at the present; with one it
 * sends what followed it first. Ids are positions in the owner's log.
 */
export class OwnerStreams {
  #waiting = new Set<() => void>();
  /** One read of an owner's progress serves every stream of that owner while it is fresh. */
  readonly #progress = new Map<string, { at: number; read: Promise<OwnerProgress> }>();

  constructor(private readonly o: OwnerStreamsOptions) {}

  /** A change was recorded in this process: streams look now rather than at their next poll. */
  wake(): void {
    const waiting = this.#waiting;
    this.#waiting = new Set();
    for (const resolve of waiting) resolve();
  }

  /**
   * Opens the caller's stream after `cursor` (or from now). Without a status filter it also tells
   * `job.progress` for each unfinished job whose counts moved, read every `progressMs`.
   */
  async open(
    caller: Caller,
    filters: { status?: JobStatus; name?: string; owner?: string },
    cursor: number | undefined,
  ): Promise<AsyncIterable<string>> {
    const { owner: requested, ...rest } = filters;
    const owner = requestedOwner(caller, requested, 'follow');
    const from = cursor ?? (await this.o.store.ownerHead(owner));
    return this.#stream(owner, rest, from);
  }

  async *#stream(
    owner: string,
    filters: { status?: JobStatus; name?: string },
    from: number,
  ): AsyncGenerator<string> {
    const deadline = Date.now() + this.o.maxStreamMs;
    const jobs = new Map<string, { job: JobRecord | undefined; history: HistoryEntry[] }>();
    const told = new Map<string, string>();
    let position = from;
    let quietSince = Date.now();
    let progressAt = -Infinity;
    // An id alone names where the stream starts: a client that reconnects before any change
    // comes resumes from here rather than from whenever it comes back (EventSource keeps it too).
    yield `${sseRetry()}id: ${from}\n\n`;
    for (;;) {
      const changes = await this.o.store.ownerChanges(owner, { after: position, limit: PAGE });
      if (changes.length > 0) {
        const text = await this.#events(changes, jobs, filters);
        position = changes.at(-1)!.position;
        if (text) {
          quietSince = Date.now();
          yield text;
        }
        if (changes.length === PAGE) continue;
      }
      // Caught up with the log: the counts now, of the jobs whose counts moved since last told.
      if (!filters.status && Date.now() - progressAt >= this.o.progressMs) {
        progressAt = Date.now();
        const all = await this.#ownerProgress(owner);
        // A read made before a job ended must not follow its final status with older counts.
        const ended = (id: string) => isFinal(jobs.get(id)?.history.at(-1)?.status ?? 'PENDING');
        const text = this.#progressEvents(
          all.filter((entry) => !ended(entry.facts.id)),
          told,
          filters,
          position,
        );
        if (text) {
          quietSince = Date.now();
          yield text;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) return;
      const woke = await this.#wait(Math.min(this.o.pollMs, left));
      if (!woke && Date.now() - quietSince >= this.o.heartbeatMs) {
        quietSince = Date.now();
        yield sseHeartbeat();
      }
    }
  }

  /** The events of a page of the owner's log, as written; changes of deleted jobs are skipped. */
  async #events(
    changes: OwnerChange[],
    jobs: Map<string, { job: JobRecord | undefined; history: HistoryEntry[] }>,
    filters: { status?: JobStatus; name?: string },
  ): Promise<string> {
    const stale = new Set(
      changes
        .filter((c) => {
          const known = jobs.get(c.jobId);
          return !known || (known.job !== undefined && !known.history.some((e) => e.sequence === c.sequence));
        })
        .map((c) => c.jobId),
    );
    await Promise.all(
      [...stale].map(async (jobId) => {
        const job = await this.o.store.getJob(jobId);
        const history = job ? await this.o.store.history(jobId).catch(() => []) : [];
        jobs.set(jobId, { job, history });
      }),
    );
    // A long stream of a busy owner must not keep every job it ever saw.
    if (jobs.size > 1000) for (const key of [...jobs.keys()].slice(0, jobs.size - 1000)) jobs.delete(key);
    let text = '';
    for (const change of changes) {
      const known = jobs.get(change.jobId);
      const entry = known?.history.find((e) => e.sequence === change.sequence);
      if (!known?.job || !entry) continue;
      if (filters.name && known.job.name !== filters.name) continue;
      if (filters.status && entry.status !== filters.status) continue;
      const { job } = known;
      text += formatSse({
        id: String(change.position),
        event: 'job.status.changed',
        data: toCloudEvent(
          jobStatusEvent({ id: job.id, name: job.name, owner: job.owner, taskCount: job.taskCount }, entry),
        ),
      });
    }
    return text;
  }

  /** `job.progress` for each job whose counts differ from what this stream last told of it. */
  #progressEvents(
    all: OwnerProgress,
    told: Map<string, string>,
    filters: { name?: string },
    position: number,
  ): string {
    let text = '';
    for (const { facts, progress } of all) {
      if (filters.name && facts.name !== filters.name) continue;
      const key = `${progress.status}|${JSON.stringify(progress.taskCounts)}`;
      if (told.get(facts.id) === key) continue;
      told.set(facts.id, key);
      text += formatSse(progressEvent(facts, String(position), progress));
    }
    return text;
  }

  /** The owner's unfinished jobs and their counts, read at most once per `progressMs`. */
  #ownerProgress(owner: string): Promise<OwnerProgress> {
    const cached = this.#progress.get(owner);
    if (cached && Date.now() - cached.at < this.o.progressMs) return cached.read;
    const read = (async (): Promise<OwnerProgress> => {
      const inFlight = (await this.o.store.listInFlight(owner)).slice(0, PROGRESS_JOBS);
      const found = await Promise.all(
        inFlight.map(async ({ id }) => {
          const [job, counts] = await Promise.all([this.o.store.getJob(id), this.o.store.taskCounts(id)]);
          if (!job) return undefined;
          const facts: JobFacts = { id: job.id, name: job.name, owner: job.owner, taskCount: job.taskCount };
          return {
            facts,
            progress: { status: job.status, taskCounts: counts ?? job.taskCounts, at: job.updatedAt },
          };
        }),
      );
      return found.filter((entry) => entry !== undefined);
    })().catch((): OwnerProgress => []);
    this.#progress.set(owner, { at: Date.now(), read });
    // Owners stop watching; their entries go with the next read of anyone's.
    for (const [key, entry] of this.#progress)
      if (Date.now() - entry.at > 10 * this.o.progressMs) this.#progress.delete(key);
    return read;
  }

  #wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiting.delete(done);
        resolve(false);
      }, ms);
      this.#waiting.add(done);
    });
  }
}

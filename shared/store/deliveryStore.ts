import type { AttemptOutcome } from '../domain/notifications.js';
import type { Page } from './jobStore.js';

/** Where a delivery stands. `dead-lettered` ends automatic tries; a manual retry may still deliver it. */
export type DeliveryStatus = 'pending' | 'retrying' | 'delivered' | 'dead-lettered';

/** One try at delivering an event. */
export interface DeliveryAttempt {
  at: string;
  durationMs: number;
  outcome: AttemptOutcome;
  /** The endpoint's HTTP status, or the SMTP reply code. */
  statusCode?: number;
  /** Why it failed when there was no answer (refused address, timeout, connection error). */
  error?: string;
  /** Asked for through the retry endpoint. */
  manual?: boolean;
}

/**
 * An event on its way to one subscription. A job event's id is the change's, `<jobId>:<sequence>`;
 * task events go in batches, `<jobId>:t<sequence>` after the first task log entry they cover.
 */
export interface DeliveryRecord {
  subscriptionId: string;
  id: string;
  jobId: string;
  /** The job change's sequence, or a task batch's first task log sequence. */
  sequence: number;
  /** `job.status.changed`, or `task.status.changed` for a batch of task events. */
  eventType: string;
  /** A task batch's last task log sequence: later entries go in later batches. */
  lastSequence?: number;
  /** How many task events a batch carries (entries its filter does not take are left out). */
  events?: number;
  /** What is sent, byte for byte the same on every attempt. */
  body: string;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  /** When the next automatic attempt is due (status `retrying`). */
  nextAttemptAt?: string;
  /** Someone is sending it until then; others leave it alone. */
  claimedUntil?: string;
  createdAt: string;
  updatedAt: string;
  /** Optimistic concurrency token. */
  etag: string;
}

/** A delivery without what is sent and its attempts: enough to know where a stream stands. */
export type DeliveryHead = Omit<DeliveryRecord, 'body' | 'attempts'>;

/** Whether a delivery carries a batch of task events (else one job event). */
export const isTaskBatch = (delivery: Pick<DeliveryRecord, 'eventType'>): boolean =>
  delivery.eventType === 'task.status.changed';

/** A subscription's stream of one job's events that needs looking at from `dueAt` on. */
export interface DueStream {
  owner: string;
  subscriptionId: string;
  jobId: string;
  dueAt: string;
  etag: string;
}

/**
 * Deliveries per subscription, and the streams due for another look (retries, and a backstop in
 * case a wake-up message is lost). Every write that can race carries the record's etag.
 */
export interface DeliveryStore {
  /** A subscription's deliveries of one job's events (job events, then task batches, each in order). */
  stream(subscriptionId: string, jobId: string): Promise<DeliveryHead[]>;
  /** Adds a delivery unless one with its id exists; either way returns the stored one. */
  add(record: Omit<DeliveryRecord, 'etag'>): Promise<DeliveryRecord>;
  /** Writes a delivery if nobody changed it since it was read; undefined if someone did. */
  replace(record: DeliveryRecord): Promise<DeliveryRecord | undefined>;
  get(subscriptionId: string, id: string): Promise<DeliveryRecord | undefined>;
  /** A subscription's deliveries, optionally of one job or in one status: by job, then in sequence order. */
  list(
    subscriptionId: string,
    options: { jobId?: string; status?: DeliveryStatus; limit: number; continuation?: string },
  ): Promise<Page<DeliveryRecord>>;
  /** Makes a stream due at `dueAt` (keeps an earlier due time unless `replace`). */
  markDue(
    stream: Omit<DueStream, 'etag' | 'dueAt'>,
    dueAt: Date,
    options?: { replace?: boolean },
  ): Promise<void>;
  /** Streams due at or before `now`, oldest first. */
  due(now: Date, limit: number): Promise<DueStream[]>;
  /** The due entry of a stream, if it has one. */
  dueEntry(subscriptionId: string, jobId: string): Promise<DueStream | undefined>;
  /** Moves a due entry (as read) to a new time; false if it changed since. */
  postpone(entry: DueStream, dueAt: Date): Promise<boolean>;
  /** Removes a due entry as read; false if it changed since (someone made it due again). */
  clearDue(entry: DueStream): Promise<boolean>;
  /**
   * Forgets every delivery and due entry of a subscription (it was deleted), or only those of one
   * job (the job was deleted).
   */
  forget(subscriptionId: string, options?: { jobId?: string }): Promise<void>;
}

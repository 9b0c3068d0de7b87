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

/** An event on its way to one subscription. Its id is the change's, `<jobId>:<sequence>`. */
export interface DeliveryRecord {
  subscriptionId: string;
  id: string;
  jobId: string;
  sequence: number;
  eventType: string;
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
  /** A subscription's deliveries of one job's events, in sequence order. */
  stream(subscriptionId: string, jobId: string): Promise<DeliveryRecord[]>;
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
  /** Forgets every delivery and due entry of a subscription (it was deleted). */
  forget(subscriptionId: string): Promise<void>;
}

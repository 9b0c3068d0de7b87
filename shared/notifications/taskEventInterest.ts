import { wantsTaskEvents } from '../domain/subscriptionFilter.js';
import type { JobStore } from '../store/jobStore.js';
import type { SubscriptionRecord, SubscriptionStore } from '../store/subscriptionStore.js';

/**
 * Whether anyone wants a job's task events, so its task changes are worth logging: a subscription
 * that takes them, or someone following the job's event stream. Asked on every batch of task
 * signals, so what was read is kept for a few seconds: a subscription made or a stream opened
 * elsewhere is heard of within that time (at once in this process, which is told through
 * {@link TaskEventInterest.forget} and {@link TaskEventInterest.watching}).
 */
export class TaskEventInterest {
  readonly #cache = new Map<string, { until: number; subscriptions: Promise<SubscriptionRecord[]> }>();
  readonly #watches = new Map<string, { until: number; watchedUntil: Promise<string | undefined> }>();

  constructor(
    private readonly o: {
      subscriptions: Pick<SubscriptionStore, 'listEnabled'>;
      /** Who follows a job live; streams are not asked about when absent. */
      watches?: Pick<JobStore, 'watchedUntil'>;
      /** How long what was read is kept; 5 s unless given. */
      ttlMs?: number;
      now?: () => Date;
    },
  ) {}

  /** Whether an enabled subscription of `owner`, or a live reader, takes task events of job `jobId`. */
  async wanted(owner: string, jobId: string): Promise<boolean> {
    const now = this.o.now?.() ?? new Date();
    const [subscriptions, watchedUntil] = await Promise.all([
      this.#subscriptions(owner, now),
      this.#watchedUntil(jobId, now),
    ]);
    if (watchedUntil !== undefined && watchedUntil > now.toISOString()) return true;
    return subscriptions.some((subscription) => wantsTaskEvents(subscription, jobId, now));
  }

  /** Forgets what is known of an owner's subscriptions (one was made or turned on). */
  forget(owner: string): void {
    this.#cache.delete(owner);
  }

  /** Someone in this process follows job `jobId` live until `until` (ISO time). */
  watching(jobId: string, until: string): void {
    const now = this.o.now?.() ?? new Date();
    this.#remember(this.#watches, jobId, {
      until: now.getTime() + (this.o.ttlMs ?? 5000),
      watchedUntil: Promise.resolve(until),
    });
  }

  #subscriptions(owner: string, now: Date): Promise<SubscriptionRecord[]> {
    let entry = this.#cache.get(owner);
    if (!entry || entry.until <= now.getTime()) {
      const subscriptions = this.o.subscriptions.listEnabled(owner);
      entry = { until: now.getTime() + (this.o.ttlMs ?? 5000), subscriptions };
      // A failed read is not remembered: the next batch asks again.
      subscriptions.catch(() => this.#cache.delete(owner));
      this.#remember(this.#cache, owner, entry);
    }
    return entry.subscriptions;
  }

  #watchedUntil(jobId: string, now: Date): Promise<string | undefined> {
    if (!this.o.watches) return Promise.resolve(undefined);
    let entry = this.#watches.get(jobId);
    if (!entry || entry.until <= now.getTime()) {
      const watchedUntil = this.o.watches.watchedUntil(jobId);
      entry = { until: now.getTime() + (this.o.ttlMs ?? 5000), watchedUntil };
      watchedUntil.catch(() => this.#watches.delete(jobId));
      this.#remember(this.#watches, jobId, entry);
    }
    return entry.watchedUntil;
  }

  #remember<T>(cache: Map<string, T>, key: string, entry: T): void {
    if (cache.size >= 10_000 && !cache.has(key)) cache.delete(cache.keys().next().value!);
    cache.set(key, entry);
  }
}

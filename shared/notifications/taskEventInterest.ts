import { wantsTaskEvents } from '../domain/subscriptionFilter.js';
import type { SubscriptionRecord, SubscriptionStore } from '../store/subscriptionStore.js';

/**
 * Whether anyone wants a job's task events, so its task changes are worth logging. Asked on every
 * batch of task signals, so each owner's subscriptions are kept for a few seconds: a subscription
 * made elsewhere starts hearing of task changes within that time (at once in this process, which
 * is told through {@link TaskEventInterest.forget}).
 */
export class TaskEventInterest {
  readonly #cache = new Map<string, { until: number; subscriptions: Promise<SubscriptionRecord[]> }>();

  constructor(
    private readonly o: {
      subscriptions: Pick<SubscriptionStore, 'listEnabled'>;
      /** How long an owner's subscriptions are kept; 5 s unless given. */
      ttlMs?: number;
      now?: () => Date;
    },
  ) {}

  /** Whether an enabled subscription of `owner` takes task events of job `jobId`. */
  async wanted(owner: string, jobId: string): Promise<boolean> {
    const now = this.o.now?.() ?? new Date();
    let entry = this.#cache.get(owner);
    if (!entry || entry.until <= now.getTime()) {
      const subscriptions = this.o.subscriptions.listEnabled(owner);
      entry = { until: now.getTime() + (this.o.ttlMs ?? 5000), subscriptions };
      // A failed read is not remembered: the next batch asks again.
      subscriptions.catch(() => this.#cache.delete(owner));
      if (this.#cache.size >= 10_000) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(owner, entry);
    }
    return (await entry.subscriptions).some((subscription) => wantsTaskEvents(subscription, jobId, now));
  }

  /** Forgets what is known of an owner's subscriptions (one was made or turned on). */
  forget(owner: string): void {
    this.#cache.delete(owner);
  }
}

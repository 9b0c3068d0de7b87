import type { FunctionHost, RegisteredFunction } from '../host/functionHost.js';
import type { ComponentLogger } from '../host/logger.js';
import { BundleRunner } from '../storage/bundleRunner.js';
import type { LeaseKeeper, WorkQueue } from '../storage/workQueue.js';
import type { EventBatch, EventGridEvent, PendingEvent } from './events.js';
import type { Subscription } from './subscriptions.js';

/** Event Grid's delivery retry schedule (it adds jitter in Azure; the runtime does not). */
export const AZURE_RETRY_DELAYS_MS = [10, 30, 60, 300, 600, 1800, 3600, 10_800, 21_600, 43_200].map(
  (s) => s * 1000,
);

const MAX_CONCURRENT_DELIVERIES = 32;
/** Events published within this window share a queue message. */
const BATCH_WINDOW_MS = 5;
const BATCH_SIZE = 64;

interface Outgoing {
  events: PendingEvent[];
  waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
  timer?: NodeJS.Timeout;
}

export interface SubscriptionChannelOptions {
  subscription: Subscription;
  queue: WorkQueue<EventBatch>;
  leases: LeaseKeeper;
  logger: ComponentLogger;
  retryDelaysMs: number[];
  deadLetter: (pending: PendingEvent, reason: string) => Promise<void>;
}

/**
 * One event subscription: events published to it are queued (those published together share a
 * message, since Azurite's queue operations are the bottleneck), then delivered to the
 * subscription's function; each failed event is retried on Event Grid's schedule, alone, and
 * dead-lettered after `maxDeliveryAttempts` or its time to live.
 */
export class SubscriptionChannel {
  readonly subscription: Subscription;
  readonly #o: SubscriptionChannelOptions;
  readonly #runner: BundleRunner<EventBatch, PendingEvent, PendingEvent[]>;
  #outgoing: Outgoing = { events: [], waiters: [] };
  #target: { fn: RegisteredFunction; host: FunctionHost } | undefined;

  constructor(options: SubscriptionChannelOptions) {
    this.#o = options;
    this.subscription = options.subscription;
    this.#runner = new BundleRunner({
      name: `event subscription ${options.subscription.name}`,
      queue: options.queue,
      leases: options.leases,
      logger: options.logger,
      concurrency: MAX_CONCURRENT_DELIVERIES,
      maxBacklog: MAX_CONCURRENT_DELIVERIES * 8,
      maxPollIntervalMs: 1000,
      items: (batch) => batch.events,
      state: (): PendingEvent[] => [],
      run: (item, retries) => this.#deliver(item, retries),
      settle: (_message, retries) => this.#requeue(retries),
    });
  }

  /** Queues an event for this subscription; resolves once it is durably queued. */
  publish(event: EventGridEvent): Promise<void> {
    const outgoing = this.#outgoing;
    const done = new Promise<void>((resolve, reject) => outgoing.waiters.push({ resolve, reject }));
    outgoing.events.push({ event, attempts: 0 });
    if (outgoing.events.length >= BATCH_SIZE) this.#flush();
    else outgoing.timer ??= setTimeout(() => this.#flush(), BATCH_WINDOW_MS);
    return done;
  }

  #flush(): void {
    const outgoing = this.#outgoing;
    clearTimeout(outgoing.timer);
    this.#outgoing = { events: [], waiters: [] };
    if (outgoing.events.length === 0) return;
    // Before delivery starts (the app is still loading) events are only queued.
    const sent = this.#target
      ? this.#runner.submit({ events: outgoing.events })
      : this.#o.queue.send({ events: outgoing.events }).then(() => undefined);
    const work = sent.then(
      () => outgoing.waiters.forEach((w) => w.resolve()),
      (error: unknown) => outgoing.waiters.forEach((w) => w.reject(error)),
    );
    this.#runner.track(work);
  }

  /** Starts delivering to `fn`. Events queued before (or by an earlier run) are received from the queue. */
  attach(fn: RegisteredFunction, host: FunctionHost): void {
    this.#target = { fn, host };
    this.#runner.start();
  }

  async stop(): Promise<void> {
    this.#flush();
    await this.#runner.stop();
  }

  /** Events queued or being delivered. */
  async backlog(): Promise<number> {
    return (await this.#o.queue.count()) + this.#outgoing.events.length + this.#runner.busy;
  }

  async #deliver(item: PendingEvent, retries: PendingEvent[]): Promise<void> {
    const policy = this.subscription.retryPolicy;
    const age = Date.now() - Date.parse(item.event.eventTime);
    if (age > policy.eventTimeToLiveInMinutes * 60_000) {
      await this.#o.deadLetter(item, 'TimeToLiveExceeded');
      return;
    }
    const { fn, host } = this.#target!;
    const outcome = await host.invoke(fn, { trigger: { string: JSON.stringify(item.event) } });
    host.logOutcome(
      fn,
      outcome,
      `event ${item.event.id} (${item.event.subject}), attempt ${item.attempts + 1}`,
      true,
    );
    if (!outcome.failed) return;
    const attempts = item.attempts + 1;
    const lastError = (outcome.error instanceof Error ? outcome.error.message : String(outcome.error)).slice(
      0,
      2000,
    );
    if (attempts >= policy.maxDeliveryAttempts) {
      await this.#o.deadLetter({ ...item, attempts, lastError }, 'MaxDeliveryAttemptsExceeded');
    } else {
      retries.push({ ...item, attempts, lastError });
    }
  }

  /** Sends a batch's failed events back to the queue, each due at its next retry. */
  async #requeue(retries: PendingEvent[]): Promise<void> {
    const byDelay = new Map<number, PendingEvent[]>();
    for (const item of retries) {
      const delay =
        this.#o.retryDelaysMs[Math.min(item.attempts - 1, this.#o.retryDelaysMs.length - 1)] ?? 10_000;
      byDelay.set(delay, [...(byDelay.get(delay) ?? []), item]);
    }
    await Promise.all([...byDelay].map(([delayMs, events]) => this.#o.queue.send({ events }, { delayMs })));
  }
}

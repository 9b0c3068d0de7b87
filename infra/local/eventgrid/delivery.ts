import type { FunctionHost, RegisteredFunction } from '../host/functionHost.js';
import type { ComponentLogger } from '../host/logger.js';
import type { LeaseKeeper, QueueMessage, WorkQueue } from '../storage/workQueue.js';
import { drain, Poller } from '../util/poller.js';
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

interface HeldBatch {
  message: QueueMessage<EventBatch>;
  remaining: number;
  retry: PendingEvent[];
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
  readonly #pending: Array<{ batch: HeldBatch; item: PendingEvent }> = [];
  readonly #batches = new Set<HeldBatch>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #outgoing: {
    events: PendingEvent[];
    waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
    timer?: NodeJS.Timeout;
  } = {
    events: [],
    waiters: [],
  };
  #poller: Poller | undefined;
  #target: { fn: RegisteredFunction; host: FunctionHost } | undefined;
  #running = 0;
  #stopped = false;

  constructor(options: SubscriptionChannelOptions) {
    this.#o = options;
    this.subscription = options.subscription;
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
    const hold =
      this.#target !== undefined && !this.#stopped && this.#pending.length < MAX_CONCURRENT_DELIVERIES * 8;
    const work = this.#o.queue.send({ events: outgoing.events }, { hold }).then(
      (sent) => {
        if (hold && !this.#stopped) this.#enqueue(sent);
        outgoing.waiters.forEach((w) => w.resolve());
      },
      (error: unknown) => outgoing.waiters.forEach((w) => w.reject(error)),
    );
    this.#track(work);
  }

  /** Starts delivering to `fn`. Events queued before (or by an earlier run) are received from the queue. */
  attach(fn: RegisteredFunction, host: FunctionHost): void {
    this.#target = { fn, host };
    this.#stopped = false;
    this.#poller = new Poller({
      name: `event subscription ${this.subscription.name}`,
      logger: this.#o.logger,
      maxIntervalMs: 1000,
      poll: async () => {
        if (this.#pending.length > 0 || this.#running >= MAX_CONCURRENT_DELIVERIES) return 0;
        const messages = await this.#o.queue.receive(4);
        for (const message of messages) this.#enqueue(message);
        return messages.length;
      },
    });
    this.#poller.start();
  }

  async stop(): Promise<void> {
    this.#flush();
    this.#stopped = true;
    await this.#poller?.stop();
    this.#pending.length = 0;
    await drain(this.#inFlight);
    // Batches with events that were never tried go back to the queue for the next start.
    await Promise.all(
      [...this.#batches].map(async (batch) => {
        this.#o.leases.release(batch.message);
        await this.#o.queue.abandon(batch.message, 0).catch(() => undefined);
      }),
    );
    this.#batches.clear();
  }

  /** Events queued or being delivered: the queue's messages count as one each, held ones by content. */
  async backlog(): Promise<number> {
    const queued = await this.#o.queue.count();
    return queued + this.#outgoing.events.length + this.#running + this.#pending.length;
  }

  #track(work: Promise<unknown>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  #enqueue(message: QueueMessage<EventBatch>): void {
    this.#o.leases.hold(this.#o.queue, message);
    const batch: HeldBatch = { message, remaining: message.body.events.length, retry: [] };
    this.#batches.add(batch);
    for (const item of message.body.events) this.#pending.push({ batch, item });
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#running < MAX_CONCURRENT_DELIVERIES && this.#pending.length > 0) {
      const { batch, item } = this.#pending.shift()!;
      this.#running++;
      const work = this.#deliver(batch, item)
        .catch((error: unknown) =>
          this.#o.logger.error(`subscription ${this.subscription.name}: delivery failed`, error),
        )
        .finally(() => {
          this.#running--;
          this.#pump();
          if (this.#pending.length === 0) this.#poller?.wake();
        });
      this.#track(work);
    }
  }

  async #deliver(batch: HeldBatch, item: PendingEvent): Promise<void> {
    const policy = this.subscription.retryPolicy;
    const age = Date.now() - Date.parse(item.event.eventTime);
    if (age > policy.eventTimeToLiveInMinutes * 60_000) {
      await this.#o.deadLetter(item, 'TimeToLiveExceeded');
    } else {
      const { fn, host } = this.#target!;
      const outcome = await host.invoke(fn, { trigger: { string: JSON.stringify(item.event) } });
      host.logOutcome(
        fn,
        outcome,
        `event ${item.event.id} (${item.event.subject}), attempt ${item.attempts + 1}`,
        true,
      );
      if (outcome.failed) {
        const attempts = item.attempts + 1;
        const lastError = (
          outcome.error instanceof Error ? outcome.error.message : String(outcome.error)
        ).slice(0, 2000);
        if (attempts >= policy.maxDeliveryAttempts) {
          await this.#o.deadLetter({ ...item, attempts, lastError }, 'MaxDeliveryAttemptsExceeded');
        } else {
          batch.retry.push({ ...item, attempts, lastError });
        }
      }
    }
    batch.remaining--;
    if (batch.remaining === 0) await this.#settle(batch);
  }

  /** Every event of a batch is done: failures go back to the queue for their retry, then the batch goes. */
  async #settle(batch: HeldBatch): Promise<void> {
    const { queue, leases, retryDelaysMs } = this.#o;
    try {
      const byDelay = new Map<number, PendingEvent[]>();
      for (const item of batch.retry) {
        const delay = retryDelaysMs[Math.min(item.attempts - 1, retryDelaysMs.length - 1)] ?? 10_000;
        byDelay.set(delay, [...(byDelay.get(delay) ?? []), item]);
      }
      await Promise.all([...byDelay].map(([delayMs, events]) => queue.send({ events }, { delayMs })));
      leases.release(batch.message);
      this.#batches.delete(batch);
      await queue.complete(batch.message);
    } catch (error) {
      leases.release(batch.message);
      this.#batches.delete(batch);
      this.#o.logger.error(
        `subscription ${this.subscription.name}: could not settle a batch; it will be delivered again`,
        error,
      );
      await queue.abandon(batch.message, 1000).catch(() => undefined);
    }
  }
}

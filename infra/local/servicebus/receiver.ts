import type { RpcTypedData } from '../host/coreTypes.js';
import { bindingText, type FunctionHost, type RegisteredFunction } from '../host/functionHost.js';
import type { HostSettings } from '../host/hostConfig.js';
import type { ComponentLogger } from '../host/logger.js';
import { BundleRunner } from '../storage/bundleRunner.js';
import { Semaphore } from '../util/poller.js';
import type { LeaseKeeper, QueueMessage, WorkQueue } from '../storage/workQueue.js';
import type { QueueSettings } from './config.js';
import type { Carrier, ServiceBusMessage } from './messages.js';

/** One message as delivered: its delivery count and lock are its carrier's, plus its own history. */
interface Delivery {
  message: ServiceBusMessage;
  deliveryCount: number;
  lockToken: string;
  lockedUntil: number;
}

/** What a carrier's deliveries leave to do once all have run: messages to store again. */
interface Settlement {
  carrier: QueueMessage<Carrier>;
  again: Array<{ message: ServiceBusMessage; delayMs: number }>;
}

export interface ReceiverOptions {
  fn: RegisteredFunction;
  source: WorkQueue<Carrier>;
  queue: QueueSettings;
  /** The receiver reads the dead-letter queue (`<queue>/$deadletterqueue`). */
  deadLetterQueue: boolean;
  host: FunctionHost;
  leases: LeaseKeeper;
  concurrency: number;
  settings: HostSettings['serviceBus'];
  logger: ComponentLogger;
  /** Moves a message to the queue's dead-letter queue. */
  deadLetter: (delivery: Delivery, reason: string, description: string) => Promise<void>;
  /** Stores messages in the source queue again, visible after `delayMs`. */
  storeAgain: (messages: ServiceBusMessage[], delayMs: number) => Promise<void>;
}

function bodyData(message: ServiceBusMessage): RpcTypedData {
  return message.bodyEncoding === 'base64'
    ? { bytes: Buffer.from(message.body, 'base64') }
    : { string: message.body };
}

/** The trigger metadata the Service Bus extension gives a function, per message. */
function metadataOf(delivery: Delivery): Record<string, unknown> {
  const body = delivery.message;
  const properties = body.applicationProperties ?? {};
  return {
    MessageId: body.messageId,
    DeliveryCount: delivery.deliveryCount,
    EnqueuedTimeUtc: body.enqueuedTimeUtc,
    SequenceNumber: body.sequenceNumber,
    LockToken: delivery.lockToken,
    LockedUntilUtc: new Date(delivery.lockedUntil).toISOString(),
    ...(body.expiresAtUtc ? { ExpiresAtUtc: body.expiresAtUtc } : {}),
    ...(body.contentType ? { ContentType: body.contentType } : {}),
    ...(body.correlationId ? { CorrelationId: body.correlationId } : {}),
    ...(body.subject ? { Subject: body.subject, Label: body.subject } : {}),
    ...(body.deadLetterSource ? { DeadLetterSource: body.deadLetterSource } : {}),
    ApplicationProperties: properties,
    UserProperties: properties,
  };
}

function toTyped(value: unknown): RpcTypedData {
  if (typeof value === 'string') return { string: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { int: value } : { double: value };
  return { json: JSON.stringify(value) };
}

/** The invocation of a batch function (`cardinality: 'many'`): bodies and metadata as arrays. */
function batchInvocation(deliveries: Delivery[]): {
  trigger: RpcTypedData;
  triggerMetadata: Record<string, RpcTypedData>;
} {
  const metas = deliveries.map(metadataOf);
  const arrays: Record<string, RpcTypedData> = {};
  for (const key of Object.keys(metas[0]!)) {
    arrays[`${key}Array`] = { json: JSON.stringify(metas.map((m) => m[key] ?? null)) };
  }
  const messages = deliveries.map((d) => d.message);
  const text = messages.every((m) => m.bodyEncoding === 'text');
  const trigger: RpcTypedData = text
    ? { collectionString: { string: messages.map((m) => m.body) } }
    : {
        collectionBytes: {
          bytes: messages.map((m) => Buffer.from(m.body, m.bodyEncoding === 'base64' ? 'base64' : 'utf8')),
        },
      };
  return { trigger, triggerMetadata: arrays };
}

/**
 * A Service Bus trigger: receives carriers, runs the function for each message (or each batch
 * of up to `maxMessageBatchSize`, for `cardinality: 'many'`), `maxConcurrentCalls` at a time,
 * and settles each message as the extension does: completed when the function succeeds,
 * abandoned (delivered again) when it throws, dead-lettered past `MaxDeliveryCount` or expired.
 * A carrier is deleted once all its messages are settled, after those to deliver again are
 * stored anew with the deliveries they have had.
 */
export class Receiver {
  readonly #o: ReceiverOptions;
  readonly #runner: BundleRunner<Carrier, Delivery, Settlement>;
  readonly #batch: boolean;
  readonly #batchSize: number;
  /** host.json `minMessageBatchSize`: a smaller batch waits for more, up to `maxBatchWaitTime`. */
  readonly #minBatch: number;
  #waitingForMore: NodeJS.Timeout | undefined;
  /** Batch mode: deliveries gathered for the next invocation, across carriers. */
  #gathered: Array<{ delivery: Delivery; settlement: Settlement; done: () => void }> = [];
  #gathering = false;
  readonly #invocations: Semaphore;

  constructor(options: ReceiverOptions) {
    this.#o = options;
    const batch = bindingText(options.fn.trigger, 'cardinality').toLowerCase() === 'many';
    this.#batch = batch;
    this.#batchSize = Math.max(1, options.settings.maxMessageBatchSize);
    this.#minBatch = Math.min(this.#batchSize, Math.max(1, options.settings.minMessageBatchSize));
    this.#invocations = new Semaphore(options.concurrency);
    this.#runner = new BundleRunner<Carrier, Delivery, Settlement>({
      name: `${options.fn.name} (${options.source.name})`,
      queue: options.source,
      leases: options.leases,
      logger: options.logger,
      // A batch function takes up to maxMessageBatchSize messages per call, so that many per
      // call may be in hand; a message function takes one.
      concurrency: batch ? options.concurrency * Math.min(this.#batchSize, 256) : options.concurrency,
      maxBacklog: options.concurrency,
      maxPollIntervalMs: 1000,
      receiveMax: 32,
      // A batch function gets what is waiting when it has a free call, as the extension's
      // receive does; receiving ahead would hand it many small batches instead of a few large ones.
      ready: () => this.#wantsMore,
      items: (carrier, received) =>
        carrier.messages.map((message, index): Delivery => ({
          message,
          // A held carrier's first delivery was made in memory, without the receive that counts.
          deliveryCount:
            (message.priorDeliveries ?? 0) +
            (carrier.held ? received.dequeueCount + 1 : Math.max(1, received.dequeueCount)),
          lockToken: `${received.messageId}:${index}`,
          lockedUntil: received.leaseUntil,
        })),
      state: (carrier) => ({ carrier, again: [] }),
      run: (delivery, settlement) =>
        batch ? this.#gather(delivery, settlement) : this.#run([{ delivery, settlement }]),
      settle: async (_carrier, settlement) => {
        const byDelay = new Map<number, ServiceBusMessage[]>();
        for (const { message, delayMs } of settlement.again) {
          byDelay.set(delayMs, [...(byDelay.get(delayMs) ?? []), message]);
        }
        await Promise.all([...byDelay].map(([delayMs, messages]) => options.storeAgain(messages, delayMs)));
      },
    });
  }

  start(): void {
    this.#runner.start();
  }

  wake(): void {
    this.#runner.wake();
  }

  /**
   * Whether a carrier sent now can come straight here: the receiver has room for it and, for a
   * batch function, a free call and fewer than `minMessageBatchSize` gathered (what a receive
   * would wait for too, so that batches stay as large as they would be).
   */
  canTake(): boolean {
    return this.#runner.canHold && this.#wantsMore;
  }

  /** A message function always does; a batch function with a free call and under its minimum. */
  get #wantsMore(): boolean {
    return !this.#batch || (this.#invocations.available > 0 && this.#gathered.length < this.#minBatch);
  }

  /** Stores a carrier held for this receiver and delivers it, with no receive in between. */
  take(carrier: Carrier): Promise<void> {
    return this.#runner.submit(carrier);
  }

  stop(): Promise<void> {
    const stopped = this.#runner.stop();
    // A batch still waiting to fill goes now, rather than hold the stop for its wait.
    this.#dispatch(true);
    return stopped;
  }

  /**
   * Batch mode: a delivery joins those gathered in this turn (the runner hands over every message
   * of the carriers it received at once), which go to the function maxMessageBatchSize at a time.
   * With `minMessageBatchSize`, fewer than that wait for more, until `maxBatchWaitTime` has passed
   * since the first of them arrived, as the extension does.
   */
  #gather(delivery: Delivery, settlement: Settlement): Promise<void> {
    return new Promise((done) => {
      this.#gathered.push({ delivery, settlement, done });
      if (this.#gathered.length >= this.#batchSize) this.#dispatch();
      else if (this.#gathered.length < this.#minBatch) this.#waitForMore();
      else if (!this.#gathering) {
        this.#gathering = true;
        setImmediate(() => {
          this.#gathering = false;
          this.#dispatch();
        });
      }
    });
  }

  #waitForMore(): void {
    this.#waitingForMore ??= setTimeout(() => {
      this.#waitingForMore = undefined;
      this.#dispatch(true);
    }, this.#o.settings.maxBatchWaitTimeMs);
  }

  /** Calls the function with what is gathered; a last batch under the minimum waits, unless `now`. */
  #dispatch(now = false): void {
    clearTimeout(this.#waitingForMore);
    this.#waitingForMore = undefined;
    while (this.#gathered.length >= (now ? 1 : this.#minBatch)) {
      const batch = this.#gathered.splice(0, this.#batchSize);
      void this.#invocations
        .acquire()
        .then(() => this.#run(batch))
        .catch((error: unknown) =>
          this.#o.logger.error(`${this.#o.fn.name}: a batch failed unexpectedly`, error),
        )
        .finally(() => {
          this.#invocations.release();
          for (const { done } of batch) done();
          this.#runner.resume();
        });
    }
    if (this.#gathered.length > 0) this.#waitForMore();
  }

  async #run(unit: Array<{ delivery: Delivery; settlement: Settlement }>): Promise<void> {
    const live: Array<{ delivery: Delivery; settlement: Settlement }> = [];
    for (const entry of unit) if (!(await this.#expired(entry.delivery))) live.push(entry);
    if (live.length === 0) return;
    const { fn, host, settings, leases } = this.#o;
    // The extension renews a lock for at most maxAutoLockRenewalDuration; past it the carriers'
    // leases lapse and their messages are delivered again, as on Azure.
    const lapse = setTimeout(() => {
      for (const { settlement } of live) leases.release(settlement.carrier);
    }, settings.maxAutoLockRenewalDurationMs);
    lapse.unref();
    const deliveries = live.map((entry) => entry.delivery);
    let outcome;
    try {
      outcome = !this.#batch
        ? await host.invoke(fn, {
            trigger: bodyData(deliveries[0]!.message),
            triggerMetadata: Object.fromEntries(
              Object.entries(metadataOf(deliveries[0]!)).map(([k, v]) => [k, toTyped(v)]),
            ),
          })
        : await host.invoke(fn, batchInvocation(deliveries));
    } finally {
      clearTimeout(lapse);
    }
    host.logOutcome(
      fn,
      outcome,
      !this.#batch
        ? `message ${deliveries[0]!.message.messageId}, delivery ${deliveries[0]!.deliveryCount}`
        : `${deliveries.length} messages`,
      true,
    );
    for (const { delivery, settlement } of live) {
      if (!outcome.failed) {
        // Without auto-completion the function was to settle it itself, which the runtime cannot
        // offer: it is delivered again once its lock expires, as on Azure.
        if (!settings.autoCompleteMessages) {
          settlement.again.push({ message: this.#again(delivery), delayMs: this.#o.queue.lockDurationMs });
        }
        continue;
      }
      await this.#failed(delivery, settlement, outcome.error);
    }
  }

  /** A copy of the message to store again, remembering the deliveries it has had. */
  #again(delivery: Delivery): ServiceBusMessage {
    return { ...delivery.message, priorDeliveries: delivery.deliveryCount };
  }

  async #expired(delivery: Delivery): Promise<boolean> {
    const expiresAt = delivery.message.expiresAtUtc;
    if (this.#o.deadLetterQueue || !expiresAt || Date.parse(expiresAt) > Date.now()) return false;
    if (this.#o.queue.deadLetterOnExpiration) {
      await this.#o.deadLetter(
        delivery,
        'TTLExpiredException',
        'The message expired before it was delivered.',
      );
    }
    return true;
  }

  async #failed(delivery: Delivery, settlement: Settlement, error: unknown): Promise<void> {
    const description = error instanceof Error ? error.message : String(error);
    if (this.#o.deadLetterQueue) {
      // A dead-letter queue has no delivery limit; back off so a failing handler does not spin.
      const delayMs = Math.min(60_000, 1000 * 2 ** Math.min(delivery.deliveryCount, 6));
      settlement.again.push({ message: this.#again(delivery), delayMs });
    } else if (delivery.deliveryCount >= this.#o.queue.maxDeliveryCount) {
      await this.#o.deadLetter(delivery, 'MaxDeliveryCountExceeded', description);
    } else {
      settlement.again.push({ message: this.#again(delivery), delayMs: 0 });
    }
  }
}

export type { Delivery };

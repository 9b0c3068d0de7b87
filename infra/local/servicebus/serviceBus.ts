import { strikes, type DeliveryFaults } from '../deliveryFaults.js';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { RpcBindingInfo, RpcTypedData } from '../host/coreTypes.js';
import { bindingText, type FunctionHost, type RegisteredFunction } from '../host/functionHost.js';
import type { HostSettings } from '../host/hostConfig.js';
import type { ComponentLogger } from '../host/logger.js';
import type { StorageClients } from '../storage/clients.js';
import { LeaseKeeper, WorkQueue, type QueueMessage } from '../storage/workQueue.js';
import { namespacePrefix, resolveAppSettings, storageName } from '../util/names.js';
import { drain, Poller, Semaphore } from '../util/poller.js';
import {
  DEFAULT_QUEUE,
  loadServiceBusConfig,
  SERVICE_BUS_CONFIG_FILE,
  type QueueSettings,
} from './config.js';

/** A Service Bus message as the emulator stores it in an Azure Storage queue. */
export interface ServiceBusMessage {
  messageId: string;
  body: string;
  bodyEncoding: 'text' | 'base64';
  contentType?: string;
  correlationId?: string;
  subject?: string;
  applicationProperties?: Record<string, string | number | boolean | null>;
  enqueuedTimeUtc: string;
  sequenceNumber: number;
  expiresAtUtc?: string;
  /** On dead-lettered copies: where it came from and how many deliveries it had. */
  deadLetterSource?: string;
  deliveryCount?: number;
}

const messageSchema = z.object({
  messageId: z.string(),
  body: z.string(),
  bodyEncoding: z.enum(['text', 'base64']),
  contentType: z.string().optional(),
  correlationId: z.string().optional(),
  subject: z.string().optional(),
  applicationProperties: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
    .optional(),
  enqueuedTimeUtc: z.string(),
  sequenceNumber: z.number(),
  expiresAtUtc: z.string().optional(),
  deadLetterSource: z.string().optional(),
  deliveryCount: z.number().optional(),
});

/** What callers outside the app (admin API, tests) can set on a message. */
export interface OutgoingMessage {
  body: string | Buffer;
  contentType?: string;
  messageId?: string;
  correlationId?: string;
  subject?: string;
  applicationProperties?: Record<string, string | number | boolean | null>;
}

const DEAD_LETTER_SUFFIX = '/$deadletterqueue';

interface EmulatedQueue {
  settings: QueueSettings;
  main: WorkQueue<ServiceBusMessage>;
  deadLetter: WorkQueue<ServiceBusMessage>;
  receivers: Receiver[];
  /** Messages enqueued since the runtime started, duplicates included. */
  sent: number;
}

export interface ServiceBusOptions {
  host: FunctionHost;
  settings: HostSettings;
  storage: StorageClients;
  namespace: string;
  appDir: string;
  logger: ComponentLogger;
  faults?: DeliveryFaults;
}

/**
 * Service Bus queues for the app's triggers and output bindings, kept in Azure Queue storage:
 * peek-lock by visibility timeout (renewed while a handler runs), delivery count from the queue's
 * dequeue count, abandon on a thrown handler, and dead-lettering after `MaxDeliveryCount`.
 */
export class ServiceBusEmulator {
  readonly #options: ServiceBusOptions;
  readonly #queues = new Map<string, Promise<EmulatedQueue>>();
  readonly #leases: LeaseKeeper;
  readonly #receivers: Receiver[] = [];
  #config = new Map<string, QueueSettings>();
  #sequence = Date.now() * 1000;

  constructor(options: ServiceBusOptions) {
    this.#options = options;
    this.#leases = new LeaseKeeper(options.logger);
    options.host.setOutputHandler('serviceBus', (fn, name, binding, data) =>
      this.#output(fn, name, binding, data),
    );
  }

  async start(): Promise<void> {
    const { host, logger } = this.#options;
    this.#config = await loadServiceBusConfig(this.#options.appDir);
    for (const fn of host.byTrigger('serviceBusTrigger')) {
      if (typeof fn.trigger.topicName === 'string') {
        throw new Error(
          `function "${fn.name}": Service Bus topics are not supported by the embedded runtime; use a queue`,
        );
      }
      if (fn.trigger.isSessionsEnabled === true) {
        throw new Error(
          `function "${fn.name}": Service Bus sessions are not supported by the embedded runtime`,
        );
      }
      const raw = resolveAppSettings(bindingText(fn.trigger, 'queueName'));
      if (!raw) throw new Error(`function "${fn.name}": serviceBusTrigger needs a queueName`);
      const deadLetter = raw.toLowerCase().endsWith(DEAD_LETTER_SUFFIX);
      const queue = await this.#queue(deadLetter ? raw.slice(0, -DEAD_LETTER_SUFFIX.length) : raw);
      const receiver = new Receiver({
        fn,
        queue,
        deadLetter,
        host,
        leases: this.#leases,
        concurrency: this.#options.settings.serviceBus.maxConcurrentCalls,
        settings: this.#options.settings.serviceBus,
        logger,
        deadLetterMessage: (message, reason, description) =>
          this.#deadLetter(queue, message, reason, description),
      });
      queue.receivers.push(receiver);
      this.#receivers.push(receiver);
    }
    for (const receiver of this.#receivers) receiver.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#receivers.map((r) => r.stop()));
    this.#leases.stop();
  }

  #queue(name: string): Promise<EmulatedQueue> {
    const key = name.toLowerCase();
    let queue = this.#queues.get(key);
    if (!queue) {
      queue = this.#createQueue(name);
      this.#queues.set(key, queue);
      queue.catch(() => this.#queues.delete(key));
    }
    return queue;
  }

  async #createQueue(name: string): Promise<EmulatedQueue> {
    const key = name.toLowerCase();
    let settings = this.#config.get(key);
    if (!settings) {
      this.#options.logger.warn(
        `queue "${name}" is not declared in ${SERVICE_BUS_CONFIG_FILE}; using Service Bus defaults (MaxDeliveryCount ${DEFAULT_QUEUE.maxDeliveryCount})`,
      );
      settings = { ...DEFAULT_QUEUE, name, declared: false };
    }
    if (settings.requiresSession)
      throw new Error(`queue "${name}": sessions are not supported by the embedded runtime`);
    const prefix = `${namespacePrefix(this.#options.namespace)}sb-`;
    const payloads = this.#options.storage.container(
      `${namespacePrefix(this.#options.namespace)}sb-large-messages`,
    );
    const make = (suffix: string) =>
      new WorkQueue<ServiceBusMessage>({
        queue: this.#options.storage.queue(storageName(prefix, name, suffix)),
        payloads,
        leaseMs: settings.lockDurationMs,
        parse: (value) => messageSchema.parse(value),
        logger: this.#options.logger,
      });
    const queue: EmulatedQueue = {
      settings,
      main: make(''),
      deadLetter: make('-dlq'),
      receivers: [],
      sent: 0,
    };
    await Promise.all([queue.main.ensure(), queue.deadLetter.ensure()]);
    return queue;
  }

  #envelope(message: OutgoingMessage, settings: QueueSettings): ServiceBusMessage {
    const now = new Date();
    const text = typeof message.body === 'string';
    return {
      messageId: message.messageId ?? randomUUID().replace(/-/g, ''),
      body: text ? (message.body as string) : (message.body as Buffer).toString('base64'),
      bodyEncoding: text ? 'text' : 'base64',
      ...(message.contentType ? { contentType: message.contentType } : {}),
      ...(message.correlationId ? { correlationId: message.correlationId } : {}),
      ...(message.subject ? { subject: message.subject } : {}),
      ...(message.applicationProperties ? { applicationProperties: message.applicationProperties } : {}),
      enqueuedTimeUtc: now.toISOString(),
      sequenceNumber: ++this.#sequence,
      ...(settings.timeToLiveMs !== undefined
        ? { expiresAtUtc: new Date(now.getTime() + settings.timeToLiveMs).toISOString() }
        : {}),
    };
  }

  /** Sends messages to a queue, as an output binding or a client would. */
  async send(queueName: string, messages: OutgoingMessage[]): Promise<void> {
    if (queueName.toLowerCase().endsWith(DEAD_LETTER_SUFFIX))
      throw new Error('messages cannot be sent to a dead-letter queue');
    const queue = await this.#queue(queueName);
    const envelopes = messages.map((m) => this.#envelope(m, queue.settings));
    const rate = this.#options.faults?.serviceBusDuplicateRate ?? 0;
    // A duplicate is the same message (same id) delivered again, as after a lost settlement.
    for (const envelope of [...envelopes]) if (strikes(rate)) envelopes.push({ ...envelope });
    await Promise.all(envelopes.map((envelope) => queue.main.send(envelope)));
    queue.sent += envelopes.length;
    for (const receiver of queue.receivers) receiver.wake();
  }

  /** Up to 32 dead-lettered messages of a queue, without removing them. */
  async peekDeadLetters(queueName: string, count = 32): Promise<ServiceBusMessage[]> {
    return (await this.#queue(queueName)).deadLetter.peek(count);
  }

  /** Messages waiting and dead-lettered, and how many were sent since the runtime started. */
  async counts(queueName: string): Promise<{ active: number; deadLetter: number; sent: number }> {
    const queue = await this.#queue(queueName);
    const [active, deadLetter] = await Promise.all([queue.main.count(), queue.deadLetter.count()]);
    return { active, deadLetter, sent: queue.sent };
  }

  async clearDeadLetters(queueName: string): Promise<void> {
    await (await this.#queue(queueName)).deadLetter.clear();
  }

  async #deadLetter(
    queue: EmulatedQueue,
    message: QueueMessage<ServiceBusMessage>,
    reason: string,
    description: string,
  ): Promise<void> {
    const copy: ServiceBusMessage = {
      ...message.body,
      applicationProperties: {
        ...(message.body.applicationProperties ?? {}),
        DeadLetterReason: reason,
        DeadLetterErrorDescription: description.slice(0, 4096),
      },
      deadLetterSource: queue.settings.name,
      deliveryCount: message.dequeueCount,
    };
    await queue.deadLetter.send(copy);
    await queue.main.complete(message);
    for (const receiver of queue.receivers) receiver.wake();
    this.#options.logger.warn(
      `queue ${queue.settings.name}: message ${message.body.messageId} dead-lettered (${reason}): ${description}`,
    );
  }

  async #output(
    fn: RegisteredFunction,
    bindingName: string,
    binding: RpcBindingInfo,
    data: RpcTypedData,
  ): Promise<void> {
    if (typeof binding.topicName === 'string') {
      throw new Error(
        `function "${fn.name}": output binding "${bindingName}" targets a topic; topics are not supported`,
      );
    }
    const queueName = resolveAppSettings(bindingText(binding, 'queueName'));
    if (!queueName)
      throw new Error(`function "${fn.name}": output binding "${bindingName}" has no queueName`);
    const messages = toOutgoing(data);
    if (messages.length > 0) await this.send(queueName, messages);
  }
}

/** Turns an output binding's value into messages: an array becomes one message per element. */
export function toOutgoing(data: RpcTypedData): OutgoingMessage[] {
  const fromValue = (value: unknown): OutgoingMessage =>
    typeof value === 'string'
      ? { body: value }
      : { body: JSON.stringify(value), contentType: 'application/json' };
  if (data.json !== null && data.json !== undefined) {
    const value: unknown = JSON.parse(data.json);
    if (value === null) return [];
    return Array.isArray(value) ? value.map(fromValue) : [fromValue(value)];
  }
  if (data.string !== null && data.string !== undefined) return [{ body: data.string }];
  if (data.bytes) return [{ body: Buffer.from(data.bytes) }];
  if (data.int !== null && data.int !== undefined) return [{ body: String(data.int) }];
  if (data.double !== null && data.double !== undefined) return [{ body: String(data.double) }];
  if (data.collectionString?.string) return data.collectionString.string.map((s) => ({ body: s }));
  if (data.collectionBytes?.bytes) return data.collectionBytes.bytes.map((b) => ({ body: Buffer.from(b) }));
  return [];
}

interface ReceiverOptions {
  fn: RegisteredFunction;
  queue: EmulatedQueue;
  deadLetter: boolean;
  host: FunctionHost;
  leases: LeaseKeeper;
  concurrency: number;
  settings: HostSettings['serviceBus'];
  logger: ComponentLogger;
  deadLetterMessage: (
    message: QueueMessage<ServiceBusMessage>,
    reason: string,
    description: string,
  ) => Promise<void>;
}

function bodyData(message: ServiceBusMessage): RpcTypedData {
  return message.bodyEncoding === 'base64'
    ? { bytes: Buffer.from(message.body, 'base64') }
    : { string: message.body };
}

/** The trigger metadata the Service Bus extension gives a function, per message. */
function metadataOf(message: QueueMessage<ServiceBusMessage>): Record<string, unknown> {
  const body = message.body;
  const properties = body.applicationProperties ?? {};
  return {
    MessageId: body.messageId,
    DeliveryCount: message.dequeueCount,
    EnqueuedTimeUtc: body.enqueuedTimeUtc,
    SequenceNumber: body.sequenceNumber,
    LockToken: message.popReceipt,
    LockedUntilUtc: new Date(message.leaseUntil).toISOString(),
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

class Receiver {
  readonly #o: ReceiverOptions;
  readonly #slots: Semaphore;
  readonly #poller: Poller;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #batch: boolean;
  #stopped = false;

  constructor(options: ReceiverOptions) {
    this.#o = options;
    this.#batch = bindingText(options.fn.trigger, 'cardinality').toLowerCase() === 'many';
    this.#slots = new Semaphore(options.concurrency);
    const source = options.deadLetter ? options.queue.deadLetter : options.queue.main;
    this.#poller = new Poller({
      name: `${options.fn.name} (${source.name})`,
      logger: options.logger,
      maxIntervalMs: 1000,
      poll: async () => {
        if (this.#slots.available <= 0) return 0;
        if (this.#batch) {
          const messages = await source.receive(Math.min(32, options.settings.maxMessageBatchSize));
          if (messages.length > 0 && this.#slots.tryAcquire())
            this.#track(this.#processBatch(source, messages));
          else for (const m of messages) await source.abandon(m, 0);
          return messages.length;
        }
        const messages = await source.receive(this.#slots.available);
        for (const message of messages) {
          if (!this.#slots.tryAcquire()) {
            await source.abandon(message, 0);
            continue;
          }
          this.#track(this.#process(source, message));
        }
        return messages.length;
      },
    });
  }

  start(): void {
    this.#stopped = false;
    this.#poller.start();
  }

  wake(): void {
    this.#poller.wake();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#poller.stop();
    await drain(this.#inFlight);
  }

  #track(work: Promise<void>): void {
    const tracked = work
      .catch((error: unknown) => this.#o.logger.error(`${this.#o.fn.name}: message handling failed`, error))
      .finally(() => {
        this.#inFlight.delete(tracked);
        this.#slots.release();
        if (!this.#stopped) this.#poller.wake();
      });
    this.#inFlight.add(tracked);
  }

  /** Holds the lock while the handler runs, up to maxAutoLockRenewalDuration, as the extension does. */
  #holdLock(source: WorkQueue<ServiceBusMessage>, messages: QueueMessage<ServiceBusMessage>[]): () => void {
    for (const m of messages) this.#o.leases.hold(source, m);
    const release = () => {
      for (const m of messages) this.#o.leases.release(m);
    };
    const timer = setTimeout(release, this.#o.settings.maxAutoLockRenewalDurationMs);
    timer.unref();
    return () => {
      clearTimeout(timer);
      release();
    };
  }

  async #expired(
    source: WorkQueue<ServiceBusMessage>,
    message: QueueMessage<ServiceBusMessage>,
  ): Promise<boolean> {
    const expiresAt = message.body.expiresAtUtc;
    if (this.#o.deadLetter || !expiresAt || Date.parse(expiresAt) > Date.now()) return false;
    if (this.#o.queue.settings.deadLetterOnExpiration) {
      await this.#o.deadLetterMessage(
        message,
        'TTLExpiredException',
        'The message expired before it was delivered.',
      );
    } else {
      await source.complete(message);
    }
    return true;
  }

  async #settleFailure(
    source: WorkQueue<ServiceBusMessage>,
    message: QueueMessage<ServiceBusMessage>,
    error: unknown,
  ): Promise<void> {
    const description = error instanceof Error ? error.message : String(error);
    if (this.#o.deadLetter) {
      // A dead-letter queue has no delivery limit; back off so a failing handler does not spin.
      await source.abandon(message, Math.min(60_000, 1000 * 2 ** Math.min(message.dequeueCount, 6)));
    } else if (message.dequeueCount >= this.#o.queue.settings.maxDeliveryCount) {
      await this.#o.deadLetterMessage(message, 'MaxDeliveryCountExceeded', description);
    } else {
      await source.abandon(message, 0);
    }
  }

  async #process(
    source: WorkQueue<ServiceBusMessage>,
    message: QueueMessage<ServiceBusMessage>,
  ): Promise<void> {
    if (await this.#expired(source, message)) return;
    const unlock = this.#holdLock(source, [message]);
    const metadata = Object.fromEntries(Object.entries(metadataOf(message)).map(([k, v]) => [k, toTyped(v)]));
    let outcome;
    try {
      outcome = await this.#o.host.invoke(this.#o.fn, {
        trigger: bodyData(message.body),
        triggerMetadata: metadata,
      });
    } finally {
      unlock();
    }
    this.#o.host.logOutcome(
      this.#o.fn,
      outcome,
      `message ${message.body.messageId}, delivery ${message.dequeueCount}`,
      true,
    );
    if (!outcome.failed) {
      if (this.#o.settings.autoCompleteMessages) await source.complete(message);
      return;
    }
    await this.#settleFailure(source, message, outcome.error);
  }

  async #processBatch(
    source: WorkQueue<ServiceBusMessage>,
    received: QueueMessage<ServiceBusMessage>[],
  ): Promise<void> {
    const messages: QueueMessage<ServiceBusMessage>[] = [];
    for (const m of received) if (!(await this.#expired(source, m))) messages.push(m);
    if (messages.length === 0) return;
    const unlock = this.#holdLock(source, messages);
    const metas = messages.map(metadataOf);
    const arrays: Record<string, RpcTypedData> = {};
    for (const key of Object.keys(metas[0]!)) {
      arrays[`${key}Array`] = { json: JSON.stringify(metas.map((m) => m[key] ?? null)) };
    }
    const text = messages.every((m) => m.body.bodyEncoding === 'text');
    const trigger: RpcTypedData = text
      ? { collectionString: { string: messages.map((m) => m.body.body) } }
      : {
          collectionBytes: {
            bytes: messages.map((m) =>
              Buffer.from(m.body.body, m.body.bodyEncoding === 'base64' ? 'base64' : 'utf8'),
            ),
          },
        };
    let outcome;
    try {
      outcome = await this.#o.host.invoke(this.#o.fn, { trigger, triggerMetadata: arrays });
    } finally {
      unlock();
    }
    this.#o.host.logOutcome(this.#o.fn, outcome, `${messages.length} messages`, true);
    for (const message of messages) {
      if (!outcome.failed) {
        if (this.#o.settings.autoCompleteMessages) await source.complete(message);
      } else {
        await this.#settleFailure(source, message, outcome.error);
      }
    }
  }
}

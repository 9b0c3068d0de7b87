import { strikes, type DeliveryFaults } from '../deliveryFaults.js';
import { randomUUID } from 'node:crypto';
import type { RpcBindingInfo, RpcTypedData } from '../host/coreTypes.js';
import { bindingText, type FunctionHost, type RegisteredFunction } from '../host/functionHost.js';
import type { HostSettings } from '../host/hostConfig.js';
import type { ComponentLogger } from '../host/logger.js';
import type { StorageClients } from '../storage/clients.js';
import { LeaseKeeper, WorkQueue } from '../storage/workQueue.js';
import { namespacePrefix, resolveAppSettings, storageName } from '../util/names.js';
import {
  DEFAULT_QUEUE,
  loadServiceBusConfig,
  SERVICE_BUS_CONFIG_FILE,
  type QueueSettings,
} from './config.js';
import { CarrierSender } from './carrierSender.js';
import { carrierSchema, type Carrier, type ServiceBusMessage } from './messages.js';
import { Receiver, type Delivery } from './receiver.js';

export type { ServiceBusMessage } from './messages.js';

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
  main: WorkQueue<Carrier>;
  deadLetter: WorkQueue<Carrier>;
  /** Senders gathering what is sent at once into one carrier, for each of the two. */
  toMain: CarrierSender;
  toDeadLetter: CarrierSender;
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
 * Service Bus queues for the app's triggers and output bindings, kept in Azure Queue storage
 * (messages sent together share a storage message, a carrier): peek-lock by visibility timeout
 * (renewed while a handler runs), delivery count from the dequeue count, abandon on a thrown
 * handler, and dead-lettering after `MaxDeliveryCount`.
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
      const source = deadLetter ? queue.deadLetter : queue.main;
      const storeAgain = deadLetter ? queue.toDeadLetter : queue.toMain;
      const receiver = new Receiver({
        fn,
        source,
        queue: queue.settings,
        deadLetterQueue: deadLetter,
        host,
        leases: this.#leases,
        concurrency: this.#options.settings.serviceBus.maxConcurrentCalls,
        settings: this.#options.settings.serviceBus,
        logger,
        deadLetter: (delivery, reason, description) => this.#deadLetter(queue, delivery, reason, description),
        storeAgain: (messages, delayMs) => storeAgain.send(messages, delayMs),
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
      new WorkQueue<Carrier>({
        queue: this.#options.storage.queue(storageName(prefix, name, suffix)),
        payloads,
        leaseMs: settings.lockDurationMs,
        parse: (value) => carrierSchema.parse(value),
        logger: this.#options.logger,
      });
    const main = make('');
    const deadLetter = make('-dlq');
    const receivers: Receiver[] = [];
    const wake = () => {
      for (const receiver of receivers) receiver.wake();
    };
    // A carrier sent here goes straight to a receiver here that can take it, saving the receive.
    const handOff = (carrier: Carrier) =>
      receivers.find((receiver) => receiver.canTake())?.take({ ...carrier, held: true });
    const queue: EmulatedQueue = {
      settings,
      main,
      deadLetter,
      toMain: new CarrierSender(main, wake, handOff),
      toDeadLetter: new CarrierSender(deadLetter, wake),
      receivers,
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
    queue.sent += envelopes.length;
    await queue.toMain.send(envelopes);
  }

  /** Up to 32 dead-lettered messages of a queue, without removing them. */
  async peekDeadLetters(queueName: string, count = 32): Promise<ServiceBusMessage[]> {
    const carriers = await (await this.#queue(queueName)).deadLetter.peek(32);
    return carriers.flatMap((carrier) => carrier.messages).slice(0, count);
  }

  /**
   * Carriers waiting and dead-lettered (each holds the messages sent together: one or more), and
   * how many messages were sent since the runtime started.
   */
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
    delivery: Delivery,
    reason: string,
    description: string,
  ): Promise<void> {
    const { message } = delivery;
    const { priorDeliveries: _prior, ...rest } = message;
    const copy: ServiceBusMessage = {
      ...rest,
      applicationProperties: {
        ...(message.applicationProperties ?? {}),
        DeadLetterReason: reason,
        DeadLetterErrorDescription: description.slice(0, 4096),
      },
      deadLetterSource: queue.settings.name,
      deliveryCount: delivery.deliveryCount,
    };
    await queue.toDeadLetter.send([copy]);
    this.#options.logger.warn(
      `queue ${queue.settings.name}: message ${message.messageId} dead-lettered (${reason}): ${description}`,
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

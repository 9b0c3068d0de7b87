import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobServiceClient, RestError } from '@azure/storage-blob';
import { QueueServiceClient, type DequeuedMessageItem, type QueueClient } from '@azure/storage-queue';
import type { RpcBindingInfo, RpcTypedData } from '../host/coreTypes.js';
import type { BindingContext, FunctionHost, RegisteredFunction } from '../host/functionHost.js';
import type { HostSettings } from '../host/hostConfig.js';
import type { ComponentLogger } from '../host/logger.js';

/** A binding's own properties beyond type and direction (path, queueName, connection, ...). */
type StorageBinding = RpcBindingInfo & {
  path?: string;
  queueName?: string;
  connection?: string;
};

/**
 * Resolves a binding expression as the host does: `%Setting%` from the app settings, `{rand-guid}`
 * and `{DateTime}`, and `{name}` from the invocation's binding data (case-insensitive). An
 * expression naming nothing the invocation has fails it, as on Azure.
 */
export function resolveBindingExpression(template: string, data: Readonly<Record<string, unknown>>): string {
  const settings = template.replace(/%([^%]+)%/g, (_, name: string) => {
    const value = process.env[name];
    if (value === undefined) throw new Error(`the app setting %${name}% in "${template}" is not set`);
    return value;
  });
  const lower = new Map(Object.entries(data).map(([key, value]) => [key.toLowerCase(), value]));
  return settings.replace(/\{([^{}]+)\}/g, (_, expression: string) => {
    const name = expression.trim();
    if (name.toLowerCase() === 'rand-guid') return randomUUID();
    if (name.toLowerCase() === 'datetime') return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    // A dotted name reaches into a JSON trigger ({order.id}).
    let value: unknown = lower.get(name.split('.')[0]!.toLowerCase());
    for (const part of name.split('.').slice(1)) {
      value =
        typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    }
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw new Error(`the binding expression {${name}} in "${template}" has no value in this invocation`);
  });
}

/** The bytes an output binding was given, whatever form the worker sent them in. */
function bytesOf(data: RpcTypedData): Buffer {
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.stream) return Buffer.from(data.stream);
  if (typeof data.string === 'string') return Buffer.from(data.string);
  if (typeof data.json === 'string') return Buffer.from(data.json);
  if (typeof data.int === 'number') return Buffer.from(String(data.int));
  if (typeof data.double === 'number') return Buffer.from(String(data.double));
  return Buffer.alloc(0);
}

/** Splits `container/path/to/blob`, refusing what names no blob. */
function blobAddress(path: string): { container: string; blob: string } {
  const slash = path.indexOf('/');
  if (slash <= 0 || slash === path.length - 1) {
    throw new Error(`the blob path "${path}" must be <container>/<blob>`);
  }
  return { container: path.slice(0, slash), blob: path.slice(slash + 1) };
}

/**
 * The storage bindings an ordinary app uses, on the app's own storage (Azurite): blob input and
 * output (`input.storageBlob`, `output.storageBlob`), storage queue output (`output.storageQueue`)
 * and the storage queue trigger (`app.storageQueue`), with the extension's defaults and host.json
 * `extensions.queues` settings: base64 messages, batches of 16 fetched again at half, a message
 * that fails `maxDequeueCount` times moved to `<queue>-poison`.
 */
export class StorageBindings {
  readonly #host: FunctionHost;
  readonly #settings: HostSettings['queues'];
  readonly #logger: ComponentLogger;
  readonly #pollers: QueuePoller[] = [];

  constructor(options: { host: FunctionHost; settings: HostSettings['queues']; logger: ComponentLogger }) {
    this.#host = options.host;
    this.#settings = options.settings;
    this.#logger = options.logger;
    this.#host.setInputProvider('blob', (_fn, _name, binding, invocation) =>
      this.#readBlob(binding, invocation),
    );
    this.#host.setOutputHandler('blob', (_fn, _name, binding, data, invocation) =>
      this.#writeBlob(binding, data, invocation),
    );
    this.#host.setOutputHandler('queue', (_fn, _name, binding, data, invocation) =>
      this.#enqueue(binding, data, invocation),
    );
  }

  /** Starts polling the queue of every storage queue trigger the app registered. */
  start(): void {
    for (const fn of this.#host.byTrigger('queueTrigger')) {
      if (this.#host.disabledReason(fn.name) !== undefined) continue;
      const binding = fn.trigger as StorageBinding;
      const queueName = resolveBindingExpression(binding.queueName ?? '', {});
      const queues = queueService(binding.connection);
      const poller = new QueuePoller({
        host: this.#host,
        fn,
        queue: queues.getQueueClient(queueName),
        poison: queues.getQueueClient(`${queueName}-poison`),
        settings: this.#settings,
        logger: this.#logger,
      });
      this.#pollers.push(poller);
      poller.start();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.#pollers.map((poller) => poller.stop()));
  }

  async #readBlob(binding: StorageBinding, invocation: BindingContext): Promise<RpcTypedData> {
    const { container, blob } = blobAddress(
      resolveBindingExpression(binding.path ?? '', invocation.bindingData),
    );
    try {
      const bytes = await blobService(binding.connection)
        .getContainerClient(container)
        .getBlobClient(blob)
        .downloadToBuffer();
      return binding.dataType === 'string' ? { string: bytes.toString('utf8') } : { bytes };
    } catch (error) {
      // A blob that is not there binds as null, as on Azure.
      if (error instanceof RestError && error.statusCode === 404) return {};
      throw error;
    }
  }

  async #writeBlob(binding: StorageBinding, data: RpcTypedData, invocation: BindingContext): Promise<void> {
    const { container, blob } = blobAddress(
      resolveBindingExpression(binding.path ?? '', invocation.bindingData),
    );
    const client = blobService(binding.connection).getContainerClient(container);
    // The extension makes the container on first write.
    await client.createIfNotExists();
    const bytes = bytesOf(data);
    await client.getBlockBlobClient(blob).upload(bytes, bytes.length);
  }

  async #enqueue(binding: StorageBinding, data: RpcTypedData, invocation: BindingContext): Promise<void> {
    const name = resolveBindingExpression(binding.queueName ?? '', invocation.bindingData);
    const queue = queueService(binding.connection).getQueueClient(name);
    await queue.createIfNotExists();
    // An array set on the binding is that many messages.
    let messages: string[] = [bytesOf(data).toString('utf8')];
    if (typeof data.json === 'string') {
      const value = JSON.parse(data.json) as unknown;
      if (Array.isArray(value)) {
        messages = value.map((item) => (typeof item === 'string' ? item : JSON.stringify(item)));
      }
    } else if (data.collectionString?.string) {
      messages = data.collectionString.string;
    }
    for (const message of messages) await queue.sendMessage(encode(message, this.#settings.messageEncoding));
  }
}

function encode(text: string, encoding: 'base64' | 'none'): string {
  return encoding === 'base64' ? Buffer.from(text, 'utf8').toString('base64') : text;
}

function decode(text: string, encoding: 'base64' | 'none'): string {
  return encoding === 'base64' ? Buffer.from(text, 'base64').toString('utf8') : text;
}

/** The connection a binding names, from the app settings (AzureWebJobsStorage unless it says). */
function connectionString(connection: string | undefined): string {
  const name = connection || 'AzureWebJobsStorage';
  const value = process.env[name] ?? process.env[`AzureWebJobs${name}`];
  if (!value) throw new Error(`the storage connection "${name}" is not an app setting`);
  return value;
}

// One client per connection string, kept: bindings run on every invocation of their function.
const blobServices = new Map<string, BlobServiceClient>();
const queueServices = new Map<string, QueueServiceClient>();

function blobService(connection: string | undefined): BlobServiceClient {
  const text = connectionString(connection);
  let client = blobServices.get(text);
  if (!client) blobServices.set(text, (client = BlobServiceClient.fromConnectionString(text)));
  return client;
}

function queueService(connection: string | undefined): QueueServiceClient {
  const text = connectionString(connection);
  let client = queueServices.get(text);
  if (!client) queueServices.set(text, (client = QueueServiceClient.fromConnectionString(text)));
  return client;
}

interface QueuePollerOptions {
  host: FunctionHost;
  fn: RegisteredFunction;
  queue: QueueClient;
  poison: QueueClient;
  settings: HostSettings['queues'];
  logger: ComponentLogger;
}

/** Runs one storage queue trigger function over its queue, as the extension's queue listener. */
class QueuePoller {
  readonly #o: QueuePollerOptions;
  /** Messages being processed now. */
  readonly #running = new Set<Promise<void>>();
  #stopped = false;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(options: QueuePollerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    await this.#loop;
    await Promise.allSettled(this.#running);
  }

  async #run(): Promise<void> {
    const { queue, settings, logger, fn } = this.#o;
    await queue.createIfNotExists().catch(() => undefined);
    let idleMs = 100;
    while (!this.#stopped) {
      // Fetch again once the batch in hand is down to the threshold, as the extension does.
      const room = settings.batchSize + settings.newBatchThreshold - this.#running.size;
      let received: DequeuedMessageItem[] = [];
      if (room >= settings.batchSize) {
        try {
          const answer = await queue.receiveMessages({
            numberOfMessages: settings.batchSize,
            // Held while the function runs; the extension renews, and 10 minutes covers a local run.
            visibilityTimeout: 600,
          });
          received = answer.receivedMessageItems;
        } catch (error) {
          if (!this.#stopped) logger.warn(`queue trigger ${fn.name}: could not receive: ${String(error)}`);
        }
      }
      for (const message of received) {
        const work = this.#process(message).finally(() => this.#running.delete(work));
        this.#running.add(work);
      }
      if (received.length > 0) {
        idleMs = 100;
        continue;
      }
      // An empty queue is asked less and less often, up to maxPollingInterval.
      await sleep(idleMs, undefined, { signal: this.#abort.signal }).catch(() => undefined);
      idleMs = Math.min(idleMs * 2, settings.maxPollingIntervalMs);
    }
  }

  async #process(message: DequeuedMessageItem): Promise<void> {
    const { host, fn, queue, poison, settings, logger } = this.#o;
    const text = decode(message.messageText, settings.messageEncoding);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const isObject = typeof json === 'object' && json !== null;
    const metadata: Record<string, RpcTypedData> = {
      Id: { string: message.messageId },
      DequeueCount: { json: String(message.dequeueCount) },
      InsertionTime: { string: message.insertedOn.toISOString() },
      ExpirationTime: { string: message.expiresOn.toISOString() },
      NextVisibleTime: { string: message.nextVisibleOn.toISOString() },
      PopReceipt: { string: message.popReceipt },
      QueueTrigger: { string: text },
    };
    // A JSON message's properties are binding data too ({id} in an output path).
    if (isObject && !Array.isArray(json)) {
      for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
        if (!(key in metadata)) metadata[key] = { json: JSON.stringify(value) };
      }
    }
    const outcome = await host.invoke(fn, {
      trigger: isObject ? { json: text } : { string: text },
      triggerMetadata: metadata,
    });
    host.logOutcome(fn, outcome, `queue ${queue.name} message ${message.messageId}`);
    try {
      if (!outcome.failed) {
        await queue.deleteMessage(message.messageId, message.popReceipt);
      } else if (message.dequeueCount >= settings.maxDequeueCount) {
        logger.warn(
          `queue trigger ${fn.name}: message ${message.messageId} failed ${message.dequeueCount} times; moved to ${poison.name}`,
        );
        await poison.createIfNotExists();
        await poison.sendMessage(message.messageText);
        await queue.deleteMessage(message.messageId, message.popReceipt);
      } else {
        await queue.updateMessage(
          message.messageId,
          message.popReceipt,
          undefined,
          Math.ceil(settings.visibilityTimeoutMs / 1000),
        );
      }
    } catch (error) {
      logger.warn(
        `queue trigger ${fn.name}: could not settle message ${message.messageId}: ${String(error)}`,
      );
    }
  }
}

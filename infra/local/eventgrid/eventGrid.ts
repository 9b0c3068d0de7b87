import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { FunctionHost, RegisteredFunction } from '../host/functionHost.js';
import type { ComponentLogger } from '../host/logger.js';
import type { StorageClients } from '../storage/clients.js';
import { DEV_ACCOUNT_NAME } from '../storage/account.js';
import { LeaseKeeper, WorkQueue, type QueueMessage } from '../storage/workQueue.js';
import { namespacePrefix, storageName } from '../util/names.js';
import { drain, Poller } from '../util/poller.js';
import { EVENT_GRID_FILE, loadSubscriptions, matches, type Subscription } from './subscriptions.js';

/** An Event Grid event in the Event Grid schema, as Azure Storage publishes it. */
export interface EventGridEvent {
  id: string;
  topic: string;
  subject: string;
  eventType: string;
  eventTime: string;
  data: Record<string, unknown>;
  dataVersion: string;
  metadataVersion: string;
}

interface Envelope {
  event: EventGridEvent;
  attempts: number;
  lastError?: string;
}

const envelopeSchema = z.object({
  event: z.object({
    id: z.string(),
    topic: z.string(),
    subject: z.string(),
    eventType: z.string(),
    eventTime: z.string(),
    data: z.record(z.string(), z.unknown()),
    dataVersion: z.string(),
    metadataVersion: z.string(),
  }),
  attempts: z.number().int().min(0),
  lastError: z.string().optional(),
});

/** Event Grid's delivery retry schedule (it adds jitter in Azure; the runtime does not). */
export const AZURE_RETRY_DELAYS_MS = [10, 30, 60, 300, 600, 1800, 3600, 10_800, 21_600, 43_200].map(
  (s) => s * 1000,
);

const TOPIC = `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/cloudjobs-local/providers/Microsoft.Storage/storageAccounts/${DEV_ACCOUNT_NAME}`;
const DEFAULT_DEAD_LETTER_CONTAINER = 'eventgrid-deadletter';
const MAX_CONCURRENT_DELIVERIES = 32;

export interface EventGridOptions {
  host: string;
  /** Port of the blob endpoint to serve (0 picks one). */
  port: number;
  /** Azurite's blob account URL, which the proxy forwards to. */
  azuriteBlob: string;
  storage: StorageClients;
  namespace: string;
  appDir: string;
  logger: ComponentLogger;
  retryDelaysMs?: number[];
}

interface WriteInfo {
  api: 'PutBlob' | 'PutBlockList' | 'CopyBlob';
  container: string;
  blob: string;
}

/** Which writes raise BlobCreated, as Azure Storage raises it: Put Blob, Put Block List, Copy Blob. */
export function classifyWrite(
  method: string,
  url: URL,
  headers: http.IncomingHttpHeaders,
): WriteInfo | undefined {
  if (method !== 'PUT') return undefined;
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  if (segments.length < 3) return undefined;
  const [, container, ...blobParts] = segments;
  let blob: string;
  try {
    blob = blobParts.map(decodeURIComponent).join('/');
  } catch {
    return undefined;
  }
  const comp = url.searchParams.get('comp');
  let api: WriteInfo['api'] | undefined;
  if (comp === null) api = headers['x-ms-copy-source'] ? 'CopyBlob' : 'PutBlob';
  else if (comp === 'blocklist') api = 'PutBlockList';
  if (!api) return undefined;
  return { api, container: decodeURIComponent(container!), blob };
}

/**
 * Event Grid for blob storage: a thin proxy in front of Azurite's blob endpoint sees each write
 * succeed, as the storage service does, and publishes `Microsoft.Storage.BlobCreated` to the
 * subscriptions in infra/local/eventgrid.json. Events are queued durably before the writer hears
 * success, and delivered to Event Grid-triggered functions with Event Grid's retry schedule and
 * dead-lettering.
 */
export class EventGridEmulator {
  readonly #options: EventGridOptions;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  readonly #target: URL;
  readonly #leases: LeaseKeeper;
  #server: http.Server | undefined;
  #subscriptions: Subscription[] = [];
  #queues = new Map<string, WorkQueue<Envelope>>();
  #deliverers: Deliverer[] = [];
  #endpoint = '';
  #sequence = 0;

  constructor(options: EventGridOptions) {
    this.#options = options;
    this.#target = new URL(options.azuriteBlob);
    this.#leases = new LeaseKeeper(options.logger);
  }

  /** The blob account URL the app and users write to. */
  get blobEndpoint(): string {
    return this.#endpoint;
  }

  get subscriptions(): readonly Subscription[] {
    return this.#subscriptions;
  }

  /** Loads subscriptions and starts proxying; events are queued from here on. */
  async listen(): Promise<void> {
    this.#subscriptions = await loadSubscriptions(this.#options.appDir);
    const prefix = `${namespacePrefix(this.#options.namespace)}eg-`;
    const payloads = this.#options.storage.container(
      `${namespacePrefix(this.#options.namespace)}eg-large-events`,
    );
    for (const subscription of this.#subscriptions) {
      const queue = new WorkQueue<Envelope>({
        queue: this.#options.storage.queue(storageName(prefix, subscription.name)),
        payloads,
        leaseMs: 60_000,
        parse: (value) => envelopeSchema.parse(value),
        logger: this.#options.logger,
      });
      await queue.ensure();
      this.#queues.set(subscription.name, queue);
    }
    const server = http.createServer((req, res) => {
      this.#proxy(req, res).catch((error: unknown) => {
        this.#options.logger.error(`proxying ${req.method} ${req.url}`, error);
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
    });
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 70_000;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE'
            ? new Error(
                `blob port ${this.#options.port} is already in use; stop what is using it or choose another port`,
              )
            : error,
        ),
      );
      server.listen(this.#options.port, this.#options.host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    this.#endpoint = `http://${this.#options.host}:${port}/${DEV_ACCOUNT_NAME}`;
  }

  /** Starts delivering to the app's functions; a subscription naming no Event Grid function is an error. */
  async start(host: FunctionHost): Promise<void> {
    const functions = host.byTrigger('eventGridTrigger');
    for (const subscription of this.#subscriptions) {
      const name = subscription.destination.functionName.toLowerCase();
      const fn = functions.find((f) => f.name.toLowerCase() === name);
      if (!fn) {
        throw new Error(
          `${EVENT_GRID_FILE}: subscription "${subscription.name}" delivers to "${subscription.destination.functionName}", ` +
            'which is not an Event Grid-triggered function of this app',
        );
      }
      const container = this.#options.storage.container(
        subscription.deadLetterDestination?.containerName ?? DEFAULT_DEAD_LETTER_CONTAINER,
      );
      await container.createIfNotExists();
      const deliverer = new Deliverer({
        subscription,
        fn,
        host,
        queue: this.#queues.get(subscription.name)!,
        leases: this.#leases,
        logger: this.#options.logger,
        retryDelaysMs: this.#options.retryDelaysMs ?? AZURE_RETRY_DELAYS_MS,
        deadLetter: async (envelope, reason) => {
          const when = new Date();
          const pad = (n: number) => String(n).padStart(2, '0');
          const name = `${DEV_ACCOUNT_NAME}/${subscription.name}/${when.getUTCFullYear()}/${pad(when.getUTCMonth() + 1)}/${pad(when.getUTCDate())}/${pad(when.getUTCHours())}/${envelope.event.id}.json`;
          const body = JSON.stringify([
            {
              ...envelope.event,
              deadLetterReason: reason,
              deliveryAttempts: envelope.attempts,
              lastDeliveryOutcome: envelope.lastError ? 'Failed' : 'NotDelivered',
              lastDeliveryAttemptTime: when.toISOString(),
              publishTime: envelope.event.eventTime,
              lastError: envelope.lastError,
            },
          ]);
          await container.getBlockBlobClient(name).upload(body, Buffer.byteLength(body), {
            blobHTTPHeaders: { blobContentType: 'application/json' },
          });
          this.#options.logger.warn(
            `subscription ${subscription.name}: event ${envelope.event.id} dead-lettered (${reason}) to ${container.containerName}/${name}`,
          );
        },
      });
      this.#deliverers.push(deliverer);
    }
    for (const deliverer of this.#deliverers) deliverer.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#deliverers.map((d) => d.stop()));
    this.#deliverers = [];
    this.#leases.stop();
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    this.#agent.destroy();
  }

  /** Counts of events waiting per subscription, for the admin API. */
  async backlog(): Promise<Record<string, number>> {
    const result: Record<string, number> = {};
    for (const [name, queue] of this.#queues) result[name] = await queue.count();
    return result;
  }

  async #proxy(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const write =
      this.#subscriptions.length > 0 ? classifyWrite(req.method ?? 'GET', url, req.headers) : undefined;
    const upstream = http.request({
      host: this.#target.hostname,
      port: this.#target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: this.#target.host },
      agent: this.#agent,
    });
    req.pipe(upstream);
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      upstream.once('response', resolve);
      upstream.once('error', reject);
      req.once('aborted', () => upstream.destroy());
    });
    const status = response.statusCode ?? 502;
    if (write && status >= 200 && status < 300) {
      try {
        await this.#publish(write, req, response, url);
      } catch (error) {
        // The write stands but its event could not be queued: report a server error so the
        // client retries the write, which publishes again, rather than lose the event.
        this.#options.logger.error(`could not queue BlobCreated for ${write.container}/${write.blob}`, error);
        response.resume();
        res.writeHead(503, { 'x-ms-error-code': 'ServerBusy' }).end();
        return;
      }
    }
    res.writeHead(status, response.statusMessage, response.headers);
    response.pipe(res);
  }

  async #publish(
    write: WriteInfo,
    req: http.IncomingMessage,
    response: http.IncomingMessage,
    url: URL,
  ): Promise<void> {
    const subject = `/blobServices/default/containers/${write.container}/blobs/${write.blob}`;
    const probe = { eventType: 'Microsoft.Storage.BlobCreated', subject };
    const targets = this.#subscriptions.filter((s) => matches(s, { ...probe, data: {} }));
    if (targets.length === 0) return;

    let contentType: string | undefined;
    let contentLength: number | undefined;
    let blobType: string | undefined;
    let eTag = String(response.headers.etag ?? '');
    if (write.api === 'PutBlob') {
      contentType = String(
        req.headers['x-ms-blob-content-type'] ?? req.headers['content-type'] ?? 'application/octet-stream',
      );
      blobType = String(req.headers['x-ms-blob-type'] ?? 'BlockBlob');
      contentLength =
        blobType === 'PageBlob'
          ? Number(req.headers['x-ms-blob-content-length'] ?? 0)
          : blobType === 'AppendBlob'
            ? 0
            : Number(req.headers['content-length'] ?? 0);
    } else {
      // For block lists and copies the request does not say what the blob ended up as.
      const properties = await this.#options.storage
        .container(write.container)
        .getBlobClient(write.blob)
        .getProperties();
      contentType = properties.contentType ?? 'application/octet-stream';
      contentLength = properties.contentLength ?? 0;
      blobType = properties.blobType ?? 'BlockBlob';
      eTag = properties.etag ?? eTag;
    }
    const sequence = (++this.#sequence).toString(16).padStart(16, '0');
    const event: EventGridEvent = {
      id: randomUUID(),
      topic: TOPIC,
      subject,
      eventType: 'Microsoft.Storage.BlobCreated',
      eventTime: new Date().toISOString(),
      data: {
        api: write.api,
        clientRequestId: String(req.headers['x-ms-client-request-id'] ?? ''),
        requestId: String(response.headers['x-ms-request-id'] ?? randomUUID()),
        eTag,
        contentType,
        contentLength,
        blobType,
        url: `${this.#endpoint.replace(/\/[^/]+$/, '')}${url.pathname}`,
        sequencer: `${Date.now().toString(16).padStart(16, '0')}${sequence}`,
        storageDiagnostics: { batchId: randomUUID() },
      },
      dataVersion: '',
      metadataVersion: '1',
    };
    await Promise.all(
      targets
        .filter((s) => matches(s, event as unknown as Parameters<typeof matches>[1]))
        .map(async (subscription) => {
          const queue = this.#queues.get(subscription.name)!;
          const deliverer = this.#deliverers.find((d) => d.subscription === subscription);
          if (deliverer) await deliverer.publish({ event, attempts: 0 });
          else await queue.send({ event, attempts: 0 });
        }),
    );
  }
}

interface DelivererOptions {
  subscription: Subscription;
  fn: RegisteredFunction;
  host: FunctionHost;
  queue: WorkQueue<Envelope>;
  leases: LeaseKeeper;
  logger: ComponentLogger;
  retryDelaysMs: number[];
  deadLetter: (envelope: Envelope, reason: string) => Promise<void>;
}

/** Delivers one subscription's events to its function, retrying on Event Grid's schedule. */
class Deliverer {
  readonly subscription: Subscription;
  readonly #o: DelivererOptions;
  readonly #backlog: QueueMessage<Envelope>[] = [];
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #poller: Poller;
  #running = 0;
  #stopped = false;

  constructor(options: DelivererOptions) {
    this.#o = options;
    this.subscription = options.subscription;
    this.#poller = new Poller({
      name: `event subscription ${options.subscription.name}`,
      logger: options.logger,
      maxIntervalMs: 1000,
      poll: async () => {
        const free = MAX_CONCURRENT_DELIVERIES - this.#running - this.#backlog.length;
        if (free <= 0) return 0;
        const messages = await options.queue.receive(free);
        for (const message of messages) this.#enqueue(message);
        return messages.length;
      },
    });
  }

  start(): void {
    this.#stopped = false;
    this.#poller.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#poller.stop();
    const unstarted = this.#backlog.splice(0);
    for (const message of unstarted) this.#o.leases.release(message);
    await drain(this.#inFlight);
    await Promise.all(unstarted.map((m) => this.#o.queue.abandon(m, 0).catch(() => undefined)));
  }

  /** Queues an event; while this deliverer keeps up, it is held and delivered without a receive. */
  async publish(envelope: Envelope): Promise<void> {
    const hold = !this.#stopped && this.#backlog.length < MAX_CONCURRENT_DELIVERIES * 4;
    const sent = await this.#o.queue.send(envelope, { hold });
    if (hold && !this.#stopped) this.#enqueue(sent);
  }

  #enqueue(message: QueueMessage<Envelope>): void {
    this.#o.leases.hold(this.#o.queue, message);
    this.#backlog.push(message);
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#running < MAX_CONCURRENT_DELIVERIES && this.#backlog.length > 0) {
      const message = this.#backlog.shift()!;
      this.#running++;
      const work = this.#deliver(message)
        .catch((error: unknown) =>
          this.#o.logger.error(`subscription ${this.subscription.name}: delivery failed`, error),
        )
        .finally(() => {
          this.#o.leases.release(message);
          this.#inFlight.delete(work);
          this.#running--;
          this.#pump();
        });
      this.#inFlight.add(work);
    }
  }

  async #deliver(message: QueueMessage<Envelope>): Promise<void> {
    const { queue, host, fn, retryDelaysMs } = this.#o;
    const envelope = message.body;
    const policy = this.subscription.retryPolicy;
    const age = Date.now() - Date.parse(envelope.event.eventTime);
    if (age > policy.eventTimeToLiveInMinutes * 60_000) {
      await this.#o.deadLetter(envelope, 'TimeToLiveExceeded');
      await queue.complete(message);
      return;
    }
    const outcome = await host.invoke(fn, { trigger: { string: JSON.stringify(envelope.event) } });
    host.logOutcome(
      fn,
      outcome,
      `event ${envelope.event.id} (${envelope.event.subject}), attempt ${envelope.attempts + 1}`,
      true,
    );
    if (!outcome.failed) {
      await queue.complete(message);
      return;
    }
    const attempts = envelope.attempts + 1;
    const lastError = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    if (attempts >= policy.maxDeliveryAttempts) {
      await this.#o.deadLetter({ ...envelope, attempts, lastError }, 'MaxDeliveryAttemptsExceeded');
      await queue.complete(message);
      return;
    }
    const delay = retryDelaysMs[Math.min(attempts - 1, retryDelaysMs.length - 1)] ?? 10_000;
    await queue.reschedule(message, { ...envelope, attempts, lastError: lastError.slice(0, 2000) }, delay);
  }
}

import { strikes, type DeliveryFaults } from '../deliveryFaults.js';
import type { FunctionHost } from '../host/functionHost.js';
import type { ComponentLogger } from '../host/logger.js';
import type { StorageClients } from '../storage/clients.js';
import { DEV_ACCOUNT_NAME } from '../storage/account.js';
import { LeaseKeeper, WorkQueue } from '../storage/workQueue.js';
import { namespacePrefix, storageName } from '../util/names.js';
import { BlobProxy } from './blobProxy.js';
import { AZURE_RETRY_DELAYS_MS, SubscriptionChannel } from './delivery.js';
import { parseEventBatch, type EventBatch, type EventGridEvent, type PendingEvent } from './events.js';
import { EVENT_GRID_FILE, loadSubscriptions, matches, type Subscription } from './subscriptions.js';

const DEFAULT_DEAD_LETTER_CONTAINER = 'eventgrid-deadletter';

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
  faults?: DeliveryFaults;
}

/**
 * Event Grid for blob storage: `Microsoft.Storage.BlobCreated` for writes through the runtime's
 * blob endpoint, published to the subscriptions in infra/local/eventgrid.json and delivered to
 * Event Grid-triggered functions with Event Grid's retries and dead-lettering.
 */
export class EventGridEmulator {
  readonly #options: EventGridOptions;
  readonly #leases: LeaseKeeper;
  readonly #channels: SubscriptionChannel[] = [];
  readonly #proxy: BlobProxy;
  #subscriptions: Subscription[] = [];

  constructor(options: EventGridOptions) {
    this.#options = options;
    this.#leases = new LeaseKeeper(options.logger);
    this.#proxy = new BlobProxy({
      host: options.host,
      port: options.port,
      target: options.azuriteBlob,
      storage: options.storage,
      logger: options.logger,
      wanted: (subject) =>
        this.#subscriptions.some((s) =>
          matches(s, { eventType: 'Microsoft.Storage.BlobCreated', subject, data: {} }),
        ),
      publish: (event) => this.#publish(event),
    });
  }

  /** The blob account URL the app and users write to. */
  get blobEndpoint(): string {
    return this.#proxy.endpoint;
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
      const queue = new WorkQueue<EventBatch>({
        queue: this.#options.storage.queue(storageName(prefix, subscription.name)),
        payloads,
        leaseMs: 60_000,
        parse: parseEventBatch,
        logger: this.#options.logger,
      });
      await queue.ensure();
      const container = this.#options.storage.container(
        subscription.deadLetterDestination?.containerName ?? DEFAULT_DEAD_LETTER_CONTAINER,
      );
      this.#channels.push(
        new SubscriptionChannel({
          subscription,
          queue,
          leases: this.#leases,
          logger: this.#options.logger,
          retryDelaysMs: this.#options.retryDelaysMs ?? AZURE_RETRY_DELAYS_MS,
          deadLetter: async (pending, reason) => {
            await container.createIfNotExists();
            await this.#deadLetter(container, subscription, pending, reason);
          },
        }),
      );
    }
    await this.#proxy.listen();
  }

  /** Starts delivering to the app's functions; a subscription naming no Event Grid function is an error. */
  start(host: FunctionHost): Promise<void> {
    const functions = host.byTrigger('eventGridTrigger');
    for (const channel of this.#channels) {
      const wanted = channel.subscription.destination.functionName.toLowerCase();
      const fn = functions.find((f) => f.name.toLowerCase() === wanted);
      if (!fn) {
        throw new Error(
          `${EVENT_GRID_FILE}: subscription "${channel.subscription.name}" delivers to ` +
            `"${channel.subscription.destination.functionName}", which is not an Event Grid-triggered function of this app`,
        );
      }
    }
    for (const channel of this.#channels) {
      const wanted = channel.subscription.destination.functionName.toLowerCase();
      channel.attach(
        functions.find((f) => f.name.toLowerCase() === wanted)!,
        host,
      );
    }
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#channels.map((c) => c.stop()));
    this.#leases.stop();
  }

  async close(): Promise<void> {
    await this.#proxy.close();
  }

  /** Events waiting per subscription (queued or being delivered), for the admin API. */
  async backlog(): Promise<Record<string, number>> {
    const result: Record<string, number> = {};
    for (const channel of this.#channels) {
      result[channel.subscription.name] = await channel.backlog();
    }
    return result;
  }

  async #publish(event: EventGridEvent): Promise<void> {
    const faults = this.#options.faults;
    if (faults && strikes(faults.eventGridDropRate)) {
      this.#options.logger.debug(`dropped event ${event.id} for ${event.subject} (injected fault)`);
      return;
    }
    const targets = this.#channels.filter((c) => matches(c.subscription, event));
    if (faults && strikes(faults.eventGridDuplicateRate)) targets.push(...targets);
    await Promise.all(targets.map((c) => c.publish(event)));
  }

  async #deadLetter(
    container: ReturnType<StorageClients['container']>,
    subscription: Subscription,
    pending: PendingEvent,
    reason: string,
  ): Promise<void> {
    const when = new Date();
    const pad = (n: number) => String(n).padStart(2, '0');
    const name = `${DEV_ACCOUNT_NAME}/${subscription.name}/${when.getUTCFullYear()}/${pad(when.getUTCMonth() + 1)}/${pad(when.getUTCDate())}/${pad(when.getUTCHours())}/${pending.event.id}.json`;
    const body = JSON.stringify([
      {
        ...pending.event,
        deadLetterReason: reason,
        deliveryAttempts: pending.attempts,
        lastDeliveryOutcome: pending.lastError ? 'Failed' : 'NotDelivered',
        lastDeliveryAttemptTime: when.toISOString(),
        publishTime: pending.event.eventTime,
        lastError: pending.lastError,
      },
    ]);
    await container.getBlockBlobClient(name).upload(body, Buffer.byteLength(body), {
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
    this.#options.logger.warn(
      `subscription ${subscription.name}: event ${pending.event.id} dead-lettered (${reason}) to ${container.containerName}/${name}`,
    );
  }
}

import { RestError, TableClient } from '@azure/data-tables';
import type { JobStatus } from '../domain/lifecycle.js';
import type {
  SubscriptionRecord,
  SubscriptionStore,
  SubscriptionTarget,
} from '../store/subscriptionStore.js';

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

const isStatus = (error: unknown, code: number) => error instanceof RestError && error.statusCode === code;

/**
 * Subscriptions on Azure Table storage, partitioned by owner: every read is an owner's, so one
 * user's subscriptions cannot be reached through another's partition.
 */
export class TableSubscriptionStore implements SubscriptionStore {
  readonly #table: TableClient;
  #ready: Promise<void> | undefined;

  constructor(options: { connectionString: string; tablePrefix: string }) {
    this.#table = TableClient.fromConnectionString(
      options.connectionString,
      `${options.tablePrefix}subscriptions`,
      { allowInsecureConnection: true },
    );
  }

  #ensure(): Promise<void> {
    this.#ready ??= this.#table.createTable().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async create(subscription: SubscriptionRecord): Promise<void> {
    await this.#ensure();
    await this.#table.createEntity({
      partitionKey: subscription.owner,
      rowKey: subscription.id,
      Kind: subscription.target.kind,
      Target: subscription.target.kind === 'webhook' ? subscription.target.url : subscription.target.address,
      Events: JSON.stringify(subscription.events),
      ...(subscription.jobId ? { JobId: subscription.jobId } : {}),
      ...(subscription.statuses ? { Statuses: JSON.stringify(subscription.statuses) } : {}),
      Enabled: subscription.enabled,
      PerJob: subscription.perJob,
      ...(subscription.expiresAt ? { ExpiresAt: subscription.expiresAt } : {}),
      CreatedAt: subscription.createdAt,
      Secret: subscription.secret,
    });
  }

  async get(owner: string, id: string): Promise<SubscriptionRecord | undefined> {
    await this.#ensure();
    try {
      return toSubscription(await this.#table.getEntity<Entity>(owner, id));
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async list(owner: string): Promise<SubscriptionRecord[]> {
    await this.#ensure();
    const out: SubscriptionRecord[] = [];
    const filter = `PartitionKey eq '${owner.replace(/'/g, "''")}'`;
    for await (const entity of this.#table.listEntities<Entity>({ queryOptions: { filter } })) {
      out.push(toSubscription(entity));
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async delete(owner: string, id: string): Promise<boolean> {
    await this.#ensure();
    try {
      await this.#table.deleteEntity(owner, id);
      return true;
    } catch (error) {
      if (isStatus(error, 404)) return false;
      throw error;
    }
  }
}

function toSubscription(entity: Entity): SubscriptionRecord {
  const target: SubscriptionTarget =
    entity.Kind === 'email'
      ? { kind: 'email', address: entity.Target as string }
      : { kind: 'webhook', url: entity.Target as string };
  const subscription: SubscriptionRecord = {
    id: entity.rowKey,
    owner: entity.partitionKey,
    target,
    events: JSON.parse(entity.Events as string) as string[],
    enabled: entity.Enabled === true,
    perJob: entity.PerJob === true,
    createdAt: entity.CreatedAt as string,
    secret: entity.Secret as string,
  };
  if (entity.JobId) subscription.jobId = entity.JobId as string;
  if (entity.Statuses) subscription.statuses = JSON.parse(entity.Statuses as string) as JobStatus[];
  if (entity.ExpiresAt) subscription.expiresAt = entity.ExpiresAt as string;
  return subscription;
}

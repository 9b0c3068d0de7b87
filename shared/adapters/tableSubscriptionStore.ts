import type { TableClient } from '@azure/data-tables';
import { type TableEntityResult } from '@azure/data-tables';
import { isStatus, lazily, odata, type Entity } from './tables.js';
import type { TableSource } from './storageAccount.js';
import { TABLES } from '../storageLayout.js';
import type { NotifiableStatus } from '../domain/subscriptionFilter.js';
import type {
  OwnerSecret,
  SubscriptionRecord,
  SubscriptionStore,
  SubscriptionTarget,
} from '../store/subscriptionStore.js';

// The owner's signing secret shares the partition under a key no subscription id (a UUID, or a
// job id and a number) can take.
const OWNER_SECRET_KEY = '~signing-secret';

/**
 * Subscriptions on Azure Table storage, partitioned by owner: every read is an owner's, so one
 * user's subscriptions cannot be reached through another's partition.
 */
export class TableSubscriptionStore implements SubscriptionStore {
  readonly #table: TableClient;
  readonly #ensure = lazily(() => this.#table.createTable());

  constructor(options: { tables: TableSource; tablePrefix: string }) {
    this.#table = options.tables(`${options.tablePrefix}${TABLES.subscriptions}`);
  }

  async create(subscription: SubscriptionRecord): Promise<void> {
    await this.#ensure();
    await this.#table.createEntity(toEntity(subscription));
  }

  async createIfAbsent(subscription: SubscriptionRecord): Promise<void> {
    await this.#ensure();
    try {
      await this.#table.createEntity(toEntity(subscription));
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
    }
  }

  async disable(owner: string, id: string, reason: string): Promise<boolean> {
    await this.#ensure();
    try {
      await this.#table.updateEntity(
        { partitionKey: owner, rowKey: id, Enabled: false, DisabledReason: reason.slice(0, 1024) },
        'Merge',
      );
      return true;
    } catch (error) {
      if (isStatus(error, 404)) return false;
      throw error;
    }
  }

  async enable(owner: string, id: string, at: string): Promise<boolean> {
    await this.#ensure();
    try {
      await this.#table.updateEntity(
        { partitionKey: owner, rowKey: id, Enabled: true, DisabledReason: '', EnabledAt: at },
        'Merge',
      );
      return true;
    } catch (error) {
      if (isStatus(error, 404)) return false;
      throw error;
    }
  }

  async rotateSecret(owner: string, id: string, secret: string, previousUntil: string): Promise<boolean> {
    await this.#ensure();
    // Rotations at once: each replaces the secret it read, so the one that loses reads again and
    // keeps the winner's secret as its previous one rather than dropping it.
    for (;;) {
      const entity = await this.#read(owner, id);
      if (!entity) return false;
      try {
        await this.#table.updateEntity(
          {
            partitionKey: owner,
            rowKey: id,
            Secret: secret,
            PreviousSecret: entity.Secret as string,
            PreviousSecretUntil: previousUntil,
          },
          'Merge',
          { etag: entity.etag },
        );
        return true;
      } catch (error) {
        if (isStatus(error, 404)) return false;
        if (!isStatus(error, 412)) throw error;
      }
    }
  }

  async #read(owner: string, key: string): Promise<TableEntityResult<Entity> | undefined> {
    try {
      return await this.#table.getEntity<Entity>(owner, key);
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async ownerSecret(owner: string): Promise<OwnerSecret | undefined> {
    await this.#ensure();
    const entity = await this.#read(owner, OWNER_SECRET_KEY);
    if (!entity) return undefined;
    return {
      secret: entity.Secret as string,
      ...(entity.Previous && entity.PreviousUntil
        ? { previous: { secret: entity.Previous as string, until: entity.PreviousUntil as string } }
        : {}),
    };
  }

  async setOwnerSecret(
    owner: string,
    secret: string,
    options: { onlyIfAbsent?: boolean; previousUntil?: string } = {},
  ): Promise<string> {
    await this.#ensure();
    const entity = {
      partitionKey: owner,
      rowKey: OWNER_SECRET_KEY,
      Secret: secret,
      CreatedAt: new Date().toISOString(),
    };
    // As in rotateSecret: a rotation that loses a race reads again, so no secret handed out is lost.
    while (!options.onlyIfAbsent) {
      const current = await this.#read(owner, OWNER_SECRET_KEY);
      const next =
        current && options.previousUntil
          ? { ...entity, Previous: current.Secret as string, PreviousUntil: options.previousUntil }
          : entity;
      try {
        if (current) await this.#table.updateEntity(next, 'Replace', { etag: current.etag });
        else await this.#table.createEntity(next);
        return secret;
      } catch (error) {
        if (!isStatus(error, 412, 409, 404)) throw error;
      }
    }
    try {
      await this.#table.createEntity(entity);
      return secret;
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
      return (await this.ownerSecret(owner))?.secret ?? secret;
    }
  }

  async get(owner: string, id: string): Promise<SubscriptionRecord | undefined> {
    await this.#ensure();
    const entity = await this.#read(owner, id);
    return entity && toSubscription(entity);
  }

  list(owner: string): Promise<SubscriptionRecord[]> {
    return this.#query(`PartitionKey eq ${odata(owner)} and RowKey ne ${odata(OWNER_SECRET_KEY)}`);
  }

  listEnabled(owner: string): Promise<SubscriptionRecord[]> {
    return this.#query(`PartitionKey eq ${odata(owner)} and Enabled eq true`);
  }

  async #query(filter: string): Promise<SubscriptionRecord[]> {
    await this.#ensure();
    const out: SubscriptionRecord[] = [];
    for await (const entity of this.#table.listEntities<Entity>({ queryOptions: { filter } })) {
      out.push(toSubscription(entity));
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async listExpired(now: string, limit: number): Promise<Array<{ owner: string; id: string }>> {
    await this.#ensure();
    const found: Array<{ owner: string; id: string }> = [];
    for await (const entity of this.#table.listEntities<Entity>({
      queryOptions: { filter: `ExpiresAt lt ${odata(now)}`, select: ['PartitionKey', 'RowKey'] },
    })) {
      found.push({ owner: entity.partitionKey, id: entity.rowKey });
      if (found.length >= limit) break;
    }
    return found;
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

function toEntity(subscription: SubscriptionRecord): Entity {
  return {
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
    ...(subscription.disabledReason ? { DisabledReason: subscription.disabledReason } : {}),
  };
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
  if (entity.Statuses) subscription.statuses = JSON.parse(entity.Statuses as string) as NotifiableStatus[];
  if (entity.ExpiresAt) subscription.expiresAt = entity.ExpiresAt as string;
  if (entity.DisabledReason) subscription.disabledReason = entity.DisabledReason as string;
  if (entity.EnabledAt) subscription.enabledAt = entity.EnabledAt as string;
  if (entity.PreviousSecret && entity.PreviousSecretUntil) {
    subscription.previousSecret = {
      secret: entity.PreviousSecret as string,
      until: entity.PreviousSecretUntil as string,
    };
  }
  return subscription;
}

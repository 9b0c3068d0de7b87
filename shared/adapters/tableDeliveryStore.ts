import type { TableClient } from '@azure/data-tables';
import { type TableEntityResult } from '@azure/data-tables';
import {
  isTaskBatch,
  type DeliveryAttempt,
  type DeliveryHead,
  type DeliveryRecord,
  type DeliveryStatus,
  type DeliveryStore,
  type DueStream,
} from '../store/deliveryStore.js';
import type { Page } from '../store/jobStore.js';
import { isStatus, lazily, odata, tablePage, type Entity } from './tables.js';
import type { TableSource } from './storageAccount.js';
import { TABLES } from '../storageLayout.js';

// Due entries share the table in one partition no subscription id (a UUID) can collide with,
// so finding what is due is one single-partition range query.
const DUE_PARTITION = '~due';
// Enough for a day of automatic attempts and many manual ones; the oldest are dropped beyond it.
const MAX_ATTEMPTS_KEPT = 50;

/** Job events sort before a job's task batches (`t` after the digits), each in sequence order. */
const rowKey = (jobId: string, sequence: number, tasks: boolean) =>
  `${jobId}:${tasks ? 't' : ''}${String(sequence).padStart(10, '0')}`;
// What a stream's position needs; a task batch's body can be tens of kilobytes.
const HEAD_PROPERTIES = [
  'PartitionKey',
  'RowKey',
  'JobId',
  'Sequence',
  'LastSequence',
  'Events',
  'EventType',
  'Status',
  'NextAttemptAt',
  'ClaimedUntil',
  'CreatedAt',
  'UpdatedAt',
];
const dueKey = (subscriptionId: string, jobId: string) => `${subscriptionId}|${jobId}`;

/**
 * Deliveries on Azure Table storage: one partition per subscription, a row per event keyed
 * `<jobId>:<sequence>` so a stream reads in order with one range query; writes that can race
 * carry the row's ETag.
 */
export class TableDeliveryStore implements DeliveryStore {
  readonly #table: TableClient;
  readonly #ensure = lazily(() => this.#table.createTable());

  constructor(options: { tables: TableSource; tablePrefix: string }) {
    this.#table = options.tables(`${options.tablePrefix}${TABLES.deliveries}`);
  }

  async stream(subscriptionId: string, jobId: string): Promise<DeliveryHead[]> {
    await this.#ensure();
    const filter =
      `PartitionKey eq ${odata(subscriptionId)} and RowKey ge ${odata(`${jobId}:`)}` +
      ` and RowKey lt ${odata(`${jobId};`)}`;
    const out: DeliveryHead[] = [];
    for await (const entity of this.#table.listEntities<Entity>({
      queryOptions: { filter, select: HEAD_PROPERTIES },
    })) {
      out.push(toHead(entity));
    }
    return out;
  }

  async add(record: Omit<DeliveryRecord, 'etag'>): Promise<DeliveryRecord> {
    await this.#ensure();
    try {
      const response = await this.#table.createEntity(toEntity(record));
      return { ...record, etag: response.etag ?? '' };
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
      const existing = await this.#read(
        record.subscriptionId,
        rowKey(record.jobId, record.sequence, isTaskBatch(record)),
      );
      if (!existing) throw error;
      return existing;
    }
  }

  async replace(record: DeliveryRecord): Promise<DeliveryRecord | undefined> {
    await this.#ensure();
    try {
      const response = await this.#table.updateEntity(toEntity(record), 'Replace', { etag: record.etag });
      return { ...record, etag: response.etag ?? '' };
    } catch (error) {
      if (isStatus(error, 412, 404)) return undefined;
      throw error;
    }
  }

  async get(subscriptionId: string, id: string): Promise<DeliveryRecord | undefined> {
    const match = /^(.+):(t?)(\d{1,10})$/.exec(id);
    if (!match) return undefined;
    await this.#ensure();
    return this.#read(subscriptionId, rowKey(match[1]!, Number(match[3]), match[2] === 't'));
  }

  async #read(subscriptionId: string, key: string): Promise<DeliveryRecord | undefined> {
    try {
      return toDelivery(await this.#table.getEntity<Entity>(subscriptionId, key));
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async list(
    subscriptionId: string,
    options: { jobId?: string; status?: DeliveryStatus; limit: number; continuation?: string },
  ): Promise<Page<DeliveryRecord>> {
    await this.#ensure();
    const filters = [`PartitionKey eq ${odata(subscriptionId)}`];
    if (options.jobId) {
      filters.push(`RowKey ge ${odata(`${options.jobId}:`)}`, `RowKey lt ${odata(`${options.jobId};`)}`);
    }
    if (options.status) filters.push(`Status eq ${odata(options.status)}`);
    return tablePage(this.#table, filters.join(' and '), options.limit, options.continuation, toDelivery);
  }

  async markDue(
    stream: Omit<DueStream, 'etag' | 'dueAt'>,
    dueAt: Date,
    options: { replace?: boolean } = {},
  ): Promise<void> {
    await this.#ensure();
    const entity = {
      partitionKey: DUE_PARTITION,
      rowKey: dueKey(stream.subscriptionId, stream.jobId),
      Owner: stream.owner,
      SubscriptionId: stream.subscriptionId,
      JobId: stream.jobId,
      DueAt: dueAt.toISOString(),
    };
    if (options.replace) {
      await this.#table.upsertEntity(entity, 'Replace');
      return;
    }
    // Read, then write conditionally: two markers at once must not leave the later time.
    // A stream that caught up has no entry: try creating first, which is then the only call.
    try {
      await this.#table.createEntity(entity);
      return;
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
    }
    for (let attempt = 0; attempt < 10; attempt++) {
      const existing = await this.dueEntry(stream.subscriptionId, stream.jobId);
      try {
        if (!existing) {
          await this.#table.createEntity(entity);
          return;
        }
        // Any write moves the etag, which is what tells a drain finishing up that news arrived.
        const earliest = existing.dueAt < entity.DueAt ? existing.dueAt : entity.DueAt;
        await this.#table.updateEntity({ ...entity, DueAt: earliest }, 'Replace', { etag: existing.etag });
        return;
      } catch (error) {
        if (!isStatus(error, 409, 412, 404)) throw error;
      }
    }
    await this.#table.upsertEntity(entity, 'Replace');
  }

  async due(now: Date, limit: number): Promise<DueStream[]> {
    await this.#ensure();
    const filter = `PartitionKey eq ${odata(DUE_PARTITION)} and DueAt le ${odata(now.toISOString())}`;
    const out: DueStream[] = [];
    for await (const entity of this.#table.listEntities<Entity>({ queryOptions: { filter } })) {
      out.push(toDue(entity));
    }
    return out.sort((a, b) => a.dueAt.localeCompare(b.dueAt)).slice(0, limit);
  }

  async dueEntry(subscriptionId: string, jobId: string): Promise<DueStream | undefined> {
    await this.#ensure();
    try {
      return toDue(await this.#table.getEntity<Entity>(DUE_PARTITION, dueKey(subscriptionId, jobId)));
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async postpone(entry: DueStream, dueAt: Date): Promise<boolean> {
    await this.#ensure();
    try {
      await this.#table.updateEntity(
        {
          partitionKey: DUE_PARTITION,
          rowKey: dueKey(entry.subscriptionId, entry.jobId),
          DueAt: dueAt.toISOString(),
        },
        'Merge',
        { etag: entry.etag },
      );
      return true;
    } catch (error) {
      if (isStatus(error, 412, 404)) return false;
      throw error;
    }
  }

  async forget(subscriptionId: string, options: { jobId?: string } = {}): Promise<void> {
    await this.#ensure();
    const { jobId } = options;
    const filters =
      jobId === undefined
        ? [
            `PartitionKey eq ${odata(subscriptionId)}`,
            `PartitionKey eq ${odata(DUE_PARTITION)} and RowKey ge ${odata(`${subscriptionId}|`)} and RowKey lt ${odata(`${subscriptionId}}`)}`,
          ]
        : [
            `PartitionKey eq ${odata(subscriptionId)} and RowKey ge ${odata(`${jobId}:`)} and RowKey lt ${odata(`${jobId};`)}`,
            `PartitionKey eq ${odata(DUE_PARTITION)} and RowKey eq ${odata(dueKey(subscriptionId, jobId))}`,
          ];
    for (const filter of filters) {
      const keys: Array<{ partitionKey: string; rowKey: string }> = [];
      const rows = this.#table.listEntities<Entity>({
        queryOptions: { filter, select: ['PartitionKey', 'RowKey'] },
      });
      for await (const entity of rows)
        keys.push({ partitionKey: entity.partitionKey, rowKey: entity.rowKey });
      // One transaction per 100 rows of a partition: a subscription's deliveries go in a few calls.
      for (const batch of chunks(keys, 100)) {
        await this.#table
          .submitTransaction(batch.map((key) => ['delete', key] as const))
          .catch((error: unknown) => {
            // Someone removed one first (a drain clearing its due entry): delete the rest one by one.
            if (!isStatus(error, 404)) throw error;
            return Promise.all(
              batch.map((key) =>
                this.#table.deleteEntity(key.partitionKey, key.rowKey).catch((inner: unknown) => {
                  if (!isStatus(inner, 404)) throw inner;
                }),
              ),
            );
          });
      }
    }
  }

  async clearDue(entry: DueStream): Promise<boolean> {
    await this.#ensure();
    try {
      await this.#table.deleteEntity(DUE_PARTITION, dueKey(entry.subscriptionId, entry.jobId), {
        etag: entry.etag,
      });
      return true;
    } catch (error) {
      if (isStatus(error, 412)) return false;
      if (isStatus(error, 404)) return true;
      throw error;
    }
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// A string property holds 32K UTF-16 characters; a batch of task events can be several times that.
const BODY_CHUNK = 30_000;

/** The body in `Body`, `Body1`, `Body2`, ... (a single `Body` when it fits, as rows always had). */
function bodyProperties(body: string): Record<string, string> {
  const out: Record<string, string> = { Body: body.slice(0, BODY_CHUNK) };
  for (let i = 1; i * BODY_CHUNK < body.length; i++) {
    out[`Body${i}`] = body.slice(i * BODY_CHUNK, (i + 1) * BODY_CHUNK);
  }
  return out;
}

function bodyOf(entity: Entity): string {
  let body = (entity.Body as string | undefined) ?? '';
  for (let i = 1; typeof entity[`Body${i}`] === 'string'; i++) body += entity[`Body${i}`] as string;
  return body;
}

function toEntity(record: Omit<DeliveryRecord, 'etag'>): Entity {
  return {
    partitionKey: record.subscriptionId,
    rowKey: rowKey(record.jobId, record.sequence, isTaskBatch(record)),
    JobId: record.jobId,
    Sequence: record.sequence,
    ...(record.lastSequence !== undefined ? { LastSequence: record.lastSequence } : {}),
    ...(record.events !== undefined ? { Events: record.events } : {}),
    EventType: record.eventType,
    ...bodyProperties(record.body),
    Status: record.status,
    Attempts: JSON.stringify(record.attempts.slice(-MAX_ATTEMPTS_KEPT)),
    NextAttemptAt: record.nextAttemptAt ?? '',
    ClaimedUntil: record.claimedUntil ?? '',
    CreatedAt: record.createdAt,
    UpdatedAt: record.updatedAt,
  };
}

function toHead(entity: TableEntityResult<Entity>): DeliveryHead {
  const eventType = entity.EventType as string;
  const head: DeliveryHead = {
    subscriptionId: entity.partitionKey,
    id: `${entity.JobId as string}:${isTaskBatch({ eventType }) ? 't' : ''}${entity.Sequence as number}`,
    jobId: entity.JobId as string,
    sequence: entity.Sequence as number,
    eventType,
    status: entity.Status as DeliveryStatus,
    createdAt: entity.CreatedAt as string,
    updatedAt: entity.UpdatedAt as string,
    etag: entity.etag,
  };
  if (typeof entity.LastSequence === 'number') head.lastSequence = entity.LastSequence;
  if (typeof entity.Events === 'number') head.events = entity.Events;
  if (entity.NextAttemptAt) head.nextAttemptAt = entity.NextAttemptAt as string;
  if (entity.ClaimedUntil) head.claimedUntil = entity.ClaimedUntil as string;
  return head;
}

function toDelivery(entity: TableEntityResult<Entity>): DeliveryRecord {
  return {
    ...toHead(entity),
    body: bodyOf(entity),
    attempts: JSON.parse((entity.Attempts as string) || '[]') as DeliveryAttempt[],
  };
}

function toDue(entity: TableEntityResult<Entity>): DueStream {
  return {
    owner: entity.Owner as string,
    subscriptionId: entity.SubscriptionId as string,
    jobId: entity.JobId as string,
    dueAt: entity.DueAt as string,
    etag: entity.etag,
  };
}

import type { ContainerClient } from '@azure/storage-blob';
import type { TableClient, TableEntity, TableEntityResult, TransactionAction } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import type { FailureDetails, HistoryEvent, ParentInstanceInfo, RuntimeStatus } from './history.js';
import { eventTypeName } from './history.js';
import { OrchestrationState, reconcileRecord, type BufferedEvent, type InstanceRecord } from './state.js';

// Table string properties hold 32K UTF-16 characters; larger payloads go to a blob.
const INLINE_CHARS = 30_000;
// A table transaction holds 100 operations and 4 MiB; keep well inside both.
const BATCH_OPERATIONS = 99;
const BATCH_BYTES = 3 * 1024 * 1024;
const SENTINEL = 'sentinel';

export class ConcurrencyError extends Error {
  override readonly name = 'ConcurrencyError';
}

/** Filters for listing instances, as the Durable HTTP API takes them. */
export interface InstanceQuery {
  runtimeStatus?: RuntimeStatus[];
  createdTimeFrom?: Date;
  createdTimeTo?: Date;
  instanceIdPrefix?: string;
  lastUpdatedTimeFrom?: Date;
  lastUpdatedTimeTo?: Date;
  top?: number;
  continuationToken?: string;
}

export interface InstancePage {
  records: InstanceRecord[];
  continuationToken?: string;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function rowKey(index: number): string {
  return index.toString(16).padStart(16, '0');
}

function bufferedKey(index: number): string {
  return `buffered-${rowKey(index)}`;
}

type InstanceEntity = TableEntity<{
  Name: string;
  Version: string;
  ExecutionId: string;
  RuntimeStatus: RuntimeStatus;
  Input?: string;
  InputBlob?: string;
  Output?: string;
  OutputBlob?: string;
  CustomStatus?: string;
  CustomStatusBlob?: string;
  CreatedTime: Date;
  LastUpdatedTime: Date;
  CompletedTime?: Date;
  FailureDetails?: string;
  Parent?: string;
}>;

/**
 * The Durable task hub's durable state in Azure Table storage, laid out like Durable Task's Azure
 * Storage provider: an Instances table (one row per instance) and a History table (one partition
 * per instance, one row per event, plus a sentinel row whose ETag serialises writers).
 */
export class TaskHubStore {
  constructor(
    readonly instances: TableClient,
    readonly history: TableClient,
    readonly payloads: ContainerClient,
  ) {}

  async ensure(): Promise<void> {
    await Promise.all([
      this.instances.createTable(),
      this.history.createTable(),
      this.payloads.createIfNotExists(),
    ]);
  }

  async #putText(name: string, text: string): Promise<void> {
    await this.payloads.getBlockBlobClient(name).upload(text, Buffer.byteLength(text), {
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
  }

  async #getText(name: string): Promise<string> {
    return (await this.payloads.getBlobClient(name).downloadToBuffer()).toString('utf8');
  }

  async #field(entity: Record<string, unknown>, key: string): Promise<string | null> {
    const blob = entity[`${key}Blob`];
    if (typeof blob === 'string') return this.#getText(blob);
    const value = entity[key];
    return typeof value === 'string' ? value : null;
  }

  async #toRecord(entity: TableEntityResult<Record<string, unknown>>): Promise<InstanceRecord> {
    const date = (value: unknown) => (value instanceof Date ? value.toISOString() : text(value));
    const failure =
      typeof entity.FailureDetails === 'string'
        ? (JSON.parse(entity.FailureDetails) as FailureDetails)
        : undefined;
    const parent =
      typeof entity.Parent === 'string' ? (JSON.parse(entity.Parent) as ParentInstanceInfo) : undefined;
    return {
      instanceId: entity.partitionKey ?? '',
      name: text(entity.Name),
      version: text(entity.Version),
      executionId: text(entity.ExecutionId),
      status: entity.RuntimeStatus as RuntimeStatus,
      input: await this.#field(entity, 'Input'),
      output: await this.#field(entity, 'Output'),
      customStatus: await this.#field(entity, 'CustomStatus'),
      createdTime: date(entity.CreatedTime),
      lastUpdatedTime: date(entity.LastUpdatedTime),
      ...(entity.CompletedTime ? { completedTime: date(entity.CompletedTime) } : {}),
      ...(failure ? { failureDetails: failure } : {}),
      ...(parent ? { parent } : {}),
    };
  }

  async #toEntity(record: InstanceRecord): Promise<InstanceEntity> {
    const entity: InstanceEntity = {
      partitionKey: record.instanceId,
      rowKey: '',
      Name: record.name,
      Version: record.version,
      ExecutionId: record.executionId,
      RuntimeStatus: record.status,
      CreatedTime: new Date(record.createdTime),
      LastUpdatedTime: new Date(record.lastUpdatedTime),
      ...(record.completedTime ? { CompletedTime: new Date(record.completedTime) } : {}),
      ...(record.failureDetails
        ? { FailureDetails: JSON.stringify(record.failureDetails).slice(0, INLINE_CHARS) }
        : {}),
      ...(record.parent ? { Parent: JSON.stringify(record.parent) } : {}),
    };
    const fields: Array<['Input' | 'Output' | 'CustomStatus', string | null]> = [
      ['Input', record.input],
      ['Output', record.output],
      ['CustomStatus', record.customStatus],
    ];
    for (const [key, value] of fields) {
      if (value === null) continue;
      if (value.length > INLINE_CHARS) {
        const name = `${record.instanceId}/instance-${record.executionId}-${key}.json`;
        await this.#putText(name, value);
        entity[`${key}Blob`] = name;
      } else {
        entity[key] = value;
      }
    }
    return entity;
  }

  /** The instance row, with its ETag; undefined when the instance does not exist. */
  async getInstance(instanceId: string): Promise<{ record: InstanceRecord; etag: string } | undefined> {
    try {
      const entity = await this.instances.getEntity<Record<string, unknown>>(instanceId, '');
      return { record: await this.#toRecord(entity), etag: entity.etag };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }

  /**
   * Creates the instance row for a start request. `etag` replaces an existing (finished) row only
   * if it is unchanged; false means someone else wrote the row first.
   */
  async createInstance(record: InstanceRecord, etag?: string): Promise<boolean> {
    const entity = await this.#toEntity(record);
    try {
      if (etag) await this.instances.updateEntity(entity, 'Replace', { etag });
      else await this.instances.createEntity(entity);
      return true;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 409 || status === 412) return false;
      throw error;
    }
  }

  /**
   * Writes an instance row conditioned on the ETag it was read with (or on its absence), and
   * returns the new ETag: how an entity's batch commits, its whole state being that one row.
   */
  async replaceInstance(record: InstanceRecord, etag: string | undefined): Promise<string> {
    const entity = await this.#toEntity(record);
    try {
      const response = etag
        ? await this.instances.updateEntity(entity, 'Replace', { etag })
        : await this.instances.createEntity(entity);
      return response.etag ?? (await this.instances.getEntity(record.instanceId, '')).etag;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 409 || status === 412)
        throw new ConcurrencyError(`instance ${record.instanceId} was changed by another writer`);
      throw error;
    }
  }

  async putInstance(record: InstanceRecord): Promise<void> {
    await this.instances.upsertEntity(await this.#toEntity(record), 'Replace');
  }

  /** Loads an instance with its current execution's history and any events buffered while suspended. */
  async load(instanceId: string): Promise<{ state: OrchestrationState | undefined; pending: boolean }> {
    const found = await this.getInstance(instanceId);
    const rows: TableEntityResult<Record<string, unknown>>[] = [];
    const filter = odata`PartitionKey eq ${instanceId}`;
    for await (const row of this.history.listEntities<Record<string, unknown>>({
      queryOptions: { filter },
    })) {
      rows.push(row);
    }
    const sentinel = rows.find((r) => r.rowKey === SENTINEL);
    if (!found && !sentinel) return { state: undefined, pending: false };
    if (!found) {
      // History without an instance row: the instance row write was lost in a crash. The history
      // holds the truth; the record is rebuilt from its ExecutionStarted event.
      const state = await this.#fromHistoryOnly(instanceId, rows, sentinel!);
      reconcileRecord(state.record, state.history);
      await this.putInstance(state.record);
      return { state, pending: false };
    }
    const record = found.record;
    const events: HistoryEvent[] = [];
    const buffered: BufferedEvent[] = [];
    if (sentinel && sentinel.ExecutionId === record.executionId) {
      const count = Number(sentinel.Rows ?? 0);
      const byKey = new Map(rows.map((r) => [r.rowKey, r]));
      for (let i = 0; i < count; i++) {
        const row = byKey.get(rowKey(i));
        if (!row) throw new Error(`history of ${instanceId} is missing row ${i} of ${count}`);
        events.push(await this.#event(row));
      }
      const bufferedCount = Number(sentinel.Buffered ?? 0);
      for (let i = 0; i < bufferedCount; i++) {
        const row = byKey.get(bufferedKey(i));
        if (row) buffered.push(JSON.parse(await this.#rowText(row)) as BufferedEvent);
      }
    }
    const state = OrchestrationState.rebuild(record, events);
    // The row fell behind its history in a crash: put it right, or status queries see it stuck.
    if (reconcileRecord(record, events)) await this.putInstance(record);
    state.buffered = buffered;
    if (sentinel) {
      state.etag = sentinel.etag;
      state.persistedExecutionId = String(sentinel.ExecutionId);
      state.persistedRows = Number(sentinel.Rows ?? 0);
      state.persistedBuffered = Number(sentinel.Buffered ?? 0);
    }
    return { state, pending: record.status === 'Pending' };
  }

  async #fromHistoryOnly(
    instanceId: string,
    rows: TableEntityResult<Record<string, unknown>>[],
    sentinel: TableEntityResult<Record<string, unknown>>,
  ): Promise<OrchestrationState> {
    const byKey = new Map(rows.map((r) => [r.rowKey, r]));
    const events: HistoryEvent[] = [];
    for (let i = 0; i < Number(sentinel.Rows ?? 0); i++) {
      const row = byKey.get(rowKey(i));
      if (row) events.push(await this.#event(row));
    }
    const started = events.find((e) => e.EventType === 0);
    const now = new Date().toISOString();
    const record: InstanceRecord = {
      instanceId,
      name: started?.Name ?? '',
      version: started?.Version ?? '',
      executionId: String(sentinel.ExecutionId),
      status: 'Running',
      input: started?.Input ?? null,
      output: null,
      customStatus: null,
      createdTime: started?.Timestamp ?? now,
      lastUpdatedTime: now,
      ...(started?.ParentInstance ? { parent: started.ParentInstance } : {}),
    };
    const state = OrchestrationState.rebuild(record, events);
    state.etag = sentinel.etag;
    state.persistedExecutionId = record.executionId;
    state.persistedRows = events.length;
    return state;
  }

  async #rowText(row: Record<string, unknown>): Promise<string> {
    if (typeof row.EventBlob === 'string') return this.#getText(row.EventBlob);
    return String(row.EventJson);
  }

  async #event(row: Record<string, unknown>): Promise<HistoryEvent> {
    return JSON.parse(await this.#rowText(row)) as HistoryEvent;
  }

  async #eventEntity(
    instanceId: string,
    key: string,
    executionId: string,
    json: string,
    event?: HistoryEvent,
  ): Promise<TableEntity> {
    const entity: TableEntity<Record<string, unknown>> = {
      partitionKey: instanceId,
      rowKey: key,
      ExecutionId: executionId,
    };
    if (event) {
      entity.EventType = eventTypeName(event.EventType);
      entity.EventId = event.EventId;
      if (event.Name) entity.Name = event.Name;
    }
    if (json.length > INLINE_CHARS) {
      const name = `${instanceId}/history-${executionId}-${key}.json`;
      await this.#putText(name, json);
      entity.EventBlob = name;
    } else {
      entity.EventJson = json;
    }
    return entity;
  }

  /**
   * Persists what changed: new history rows first, the sentinel last (conditioned on its ETag, so a
   * second writer fails instead of interleaving), then the instance row. A crash part-way leaves
   * rows past the sentinel's count, which loading ignores and the next commit overwrites.
   */
  async commit(state: OrchestrationState): Promise<void> {
    const record = state.record;
    const id = record.instanceId;
    const executionId = record.executionId;
    const sameExecution = state.persistedExecutionId === executionId;
    const from = sameExecution ? state.persistedRows : 0;
    const actions: Array<{ action: TransactionAction; size: number }> = [];
    for (let i = from; i < state.history.length; i++) {
      const event = state.history[i]!;
      const json = JSON.stringify(event);
      const entity = await this.#eventEntity(id, rowKey(i), executionId, json, event);
      actions.push({
        action: ['upsert', entity, 'Replace'],
        size: Math.min(json.length, INLINE_CHARS) * 2 + 512,
      });
    }
    if (!sameExecution) {
      for (let i = state.history.length; i < state.persistedRows; i++) {
        actions.push({ action: ['delete', { partitionKey: id, rowKey: rowKey(i) }], size: 256 });
      }
    }
    for (let i = 0; i < state.buffered.length; i++) {
      const json = JSON.stringify(state.buffered[i]);
      const entity = await this.#eventEntity(id, bufferedKey(i), executionId, json);
      actions.push({
        action: ['upsert', entity, 'Replace'],
        size: Math.min(json.length, INLINE_CHARS) * 2 + 512,
      });
    }
    for (let i = state.buffered.length; i < state.persistedBuffered; i++) {
      actions.push({ action: ['delete', { partitionKey: id, rowKey: bufferedKey(i) }], size: 256 });
    }
    const sentinel: TableEntity = {
      partitionKey: id,
      rowKey: SENTINEL,
      ExecutionId: executionId,
      Rows: state.history.length,
      Buffered: state.buffered.length,
    };
    const sentinelAction: TransactionAction = state.etag
      ? ['update', sentinel, 'Replace', { etag: state.etag }]
      : ['create', sentinel];

    const batches: TransactionAction[][] = [[]];
    let bytes = 0;
    for (const { action, size } of actions) {
      const current = batches[batches.length - 1]!;
      if (current.length >= BATCH_OPERATIONS || bytes + size > BATCH_BYTES) {
        batches.push([action]);
        bytes = size;
      } else {
        current.push(action);
        bytes += size;
      }
    }
    const last = batches[batches.length - 1]!;
    if (last.length >= BATCH_OPERATIONS) batches.push([sentinelAction]);
    else last.push(sentinelAction);

    // Row batches go in parallel; the sentinel's batch goes last, once every row it counts exists.
    const final = batches.pop()!;
    await Promise.all(batches.map((batch) => this.history.submitTransaction(batch)));
    try {
      const response = await this.history.submitTransaction(final);
      state.etag = response.subResponses.find((r) => r.rowKey === SENTINEL)?.etag;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 412 || status === 409)
        throw new ConcurrencyError(`instance ${id} was changed by another writer`);
      throw error;
    }
    if (!state.etag) {
      // Some emulator versions leave the ETag out of transaction responses.
      state.etag = (await this.history.getEntity(id, SENTINEL)).etag;
    }
    state.persistedExecutionId = executionId;
    state.persistedRows = state.history.length;
    state.persistedBuffered = state.buffered.length;
    await this.putInstance(record);
  }

  async queryInstances(query: InstanceQuery): Promise<InstancePage> {
    const clauses: string[] = [];
    if (query.runtimeStatus && query.runtimeStatus.length > 0) {
      clauses.push('(' + query.runtimeStatus.map((s) => odata`RuntimeStatus eq ${s}`).join(' or ') + ')');
    }
    if (query.createdTimeFrom) clauses.push(odata`CreatedTime ge ${query.createdTimeFrom}`);
    if (query.createdTimeTo) clauses.push(odata`CreatedTime le ${query.createdTimeTo}`);
    if (query.lastUpdatedTimeFrom) clauses.push(odata`LastUpdatedTime ge ${query.lastUpdatedTimeFrom}`);
    if (query.lastUpdatedTimeTo) clauses.push(odata`LastUpdatedTime le ${query.lastUpdatedTimeTo}`);
    if (query.instanceIdPrefix) {
      const prefix = query.instanceIdPrefix;
      const next = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
      clauses.push(odata`PartitionKey ge ${prefix} and PartitionKey lt ${next}`);
    }
    const pages = this.instances
      .listEntities<Record<string, unknown>>({
        queryOptions: clauses.length > 0 ? { filter: clauses.join(' and ') } : {},
      })
      .byPage({
        maxPageSize: query.top ?? 100,
        ...(query.continuationToken ? { continuationToken: query.continuationToken } : {}),
      });
    const first = await pages.next();
    if (first.done) return { records: [] };
    const page = first.value;
    const records = await Promise.all(page.map((entity) => this.#toRecord(entity)));
    return { records, ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}) };
  }

  /** Deletes an instance's row, history and payload blobs. */
  async purge(instanceId: string): Promise<void> {
    const filter = odata`PartitionKey eq ${instanceId}`;
    const keys: string[] = [];
    for await (const row of this.history.listEntities({ queryOptions: { filter, select: ['RowKey'] } })) {
      keys.push(row.rowKey!);
    }
    for (let i = 0; i < keys.length; i += BATCH_OPERATIONS) {
      await this.history.submitTransaction(
        keys
          .slice(i, i + BATCH_OPERATIONS)
          .map((rowKeyValue) => ['delete', { partitionKey: instanceId, rowKey: rowKeyValue }]),
      );
    }
    for await (const blob of this.payloads.listBlobsFlat({ prefix: `${instanceId}/` })) {
      await this.payloads.deleteBlob(blob.name).catch(() => undefined);
    }
    await this.instances.deleteEntity(instanceId, '').catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404) throw error;
    });
  }
}

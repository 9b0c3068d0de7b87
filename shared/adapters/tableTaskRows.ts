import type { TableClient, TransactionAction } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import { NotFoundError, TransientError, ValidationError } from '../errors.js';
import { jobLayout } from '../domain/jobLayout.js';
import { countStatuses } from '../domain/taskState.js';
import { TASK_STATUSES, compareTaskObservation, isFinalTask, type TaskStatus } from '../domain/lifecycle.js';
import {
  taskLogEntry,
  type Page,
  type TaskChange,
  type TaskCounts,
  type TaskLogEntry,
  type TaskRecord,
  type TaskUpdate,
  type TaskUpdateOptions,
  type TaskUpdateResult,
} from '../store/jobStore.js';
import { isStatus, joinJson, odata, splitJson, type Entity } from './tables.js';

// A block row is shared by a hundred tasks whose signals may all arrive at once.
const MAX_BLOCK_ATTEMPTS = 100;
const backoff = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * 2 * Math.min(200, 2 ** attempt)));

/**
 * Tasks are stored 100 to a row, in the job's order: a 100,000-task job is 1,000 rows, which
 * costs a thousandth of the writes (and keeps Azurite, whose inserts slow as a table grows, usable).
 */
const TASKS_PER_BLOCK = 100;
const blockRowKey = (block: number) => `b${String(block).padStart(6, '0')}`;
/** Block rows sort below this; the task event log (`ev|...`) above it. */
const BLOCKS_END = 'c';
/**
 * A job's task event log shares its tasks' partition, so a change and its log entry are written in
 * one transaction. Rows hold up to 100 consecutive entries keyed by the first one's sequence; the
 * counter row holds the last sequence given out.
 */
const LOG_COUNTER = 'ev|~';
const logRowKey = (first: number) => `ev|${String(first).padStart(10, '0')}`;
const LOG_ENTRIES_PER_ROW = 100;
/** The row saying until when someone follows the job live; sorts after the log's rows. */
const WATCH_ROW = 'watch';
// A logged write moves the counter, so a call's blocks go together, a few transactions at most,
// each inside a transaction's limits: 100 entities and 4 MB (kept to 3 MB: the request's framing,
// and UTF-16 properties written as UTF-8 JSON, vary).
const BLOCKS_PER_LOGGED_WRITE = 20;
const MAX_TRANSACTION_ENTITIES = 100;
const MAX_TRANSACTION_BYTES = 3 * 1024 * 1024;
const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** A task event log entry, with short keys like a stored task. */
interface StoredLogEntry {
  t: string;
  s: TaskStatus;
  p: TaskStatus;
  a: number;
  x?: number;
  f?: [string, string];
  u: string;
}

/** A task in a block row, with short keys because a block holds a hundred of them. */
interface StoredTask {
  i: string;
  s: TaskStatus;
  a: number;
  x?: number;
  f?: [string, string];
  st?: string;
  en?: string;
  u: string;
}

/**
 * Applies observations to a block's tasks in place (see `compareTaskObservation`): returns the
 * changes; duplicates and stale observations change nothing.
 */
function applyObservations(records: StoredTask[], updates: readonly TaskUpdate[]): TaskChange[] {
  const index = new Map(records.map((record, i) => [record.i, i]));
  const changes: TaskChange[] = [];
  for (const update of updates) {
    const at = index.get(update.id);
    if (at === undefined) continue;
    const current = records[at]!;
    if (compareTaskObservation({ status: current.s, attempt: current.a }, update) !== 'apply') continue;
    const next: StoredTask = { i: update.id, s: update.status, a: update.attempt, u: update.at };
    if (update.exitCode !== undefined) next.x = update.exitCode;
    if (update.failure) next.f = [update.failure.code, update.failure.message.slice(0, 500)];
    const startedAt = update.startedAt ?? (update.attempt === current.a ? current.st : undefined);
    if (startedAt) next.st = startedAt;
    if (update.endedAt) next.en = update.endedAt;
    changes.push({ task: fromStored(next), previousStatus: current.s });
    records[at] = next;
  }
  return changes;
}

const unfinished = (records: StoredTask[]) => records.filter((record) => !isFinalTask(record.s)).length;

function blockEntity(id: string, block: number, records: StoredTask[]): Entity {
  return {
    partitionKey: id,
    rowKey: blockRowKey(block),
    // Counted with the tasks, in the same write, so the job's counts are always exact.
    Counts: JSON.stringify(countStatuses(records.map((record) => record.s))),
    ...splitJson(records, 'Tasks'),
  };
}

function fromStored(record: StoredTask): TaskRecord {
  const task: TaskRecord = { id: record.i, status: record.s, attempt: record.a, updatedAt: record.u };
  if (record.x !== undefined) task.exitCode = record.x;
  if (record.f) task.failure = { code: record.f[0], message: record.f[1] };
  if (record.st) task.startedAt = record.st;
  if (record.en) task.endedAt = record.en;
  return task;
}

function encodeTaskCursor(block: number, offset: number): string {
  return Buffer.from(JSON.stringify({ b: block, o: offset })).toString('base64url');
}

function decodeTaskCursor(value: string | undefined): { block: number; offset: number } {
  if (!value) return { block: 0, offset: 0 };
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as {
      b?: unknown;
      o?: unknown;
    };
    if (
      Number.isInteger(parsed.b) &&
      Number.isInteger(parsed.o) &&
      (parsed.b as number) >= 0 &&
      (parsed.o as number) >= 0
    ) {
      return { block: parsed.b as number, offset: parsed.o as number };
    }
  } catch {
    // falls through to the error below
  }
  throw new ValidationError('the continuation token is not valid', [
    { path: 'continuation', message: 'is not a token this API returned' },
  ]);
}

export function emptyCounts(): TaskCounts {
  return Object.fromEntries(TASK_STATUSES.map((status) => [status, 0])) as TaskCounts;
}

/**
 * A job's tasks on Azure Table storage, in the job's partition of the tasks table: the tasks a
 * hundred to a block row (with each block's counts by status), and the task event log beside them,
 * so a change and its log entry are one transaction. The job store keeps the rest of the job.
 */
export class TableTaskRows {
  readonly #positions = new Map<string, Map<string, number>>();
  /** Per job, the end of the chain of logged task writes under way in this process. */
  readonly #loggedWrites = new Map<string, Promise<void>>();

  readonly #tasks: TableClient;
  readonly #specs: ContainerClient;

  constructor(
    tasks: TableClient,
    specs: ContainerClient,
    private readonly ready: () => Promise<void>,
  ) {
    this.#tasks = tasks;
    this.#specs = specs;
  }

  async counts(id: string): Promise<TaskCounts | undefined> {
    await this.ready();
    const counts = emptyCounts();
    let blocks = 0;
    for await (const entity of this.#tasks.listEntities<Entity>({
      queryOptions: {
        filter: `PartitionKey eq ${odata(id)} and RowKey lt ${odata(BLOCKS_END)}`,
        select: ['Counts'],
      },
    })) {
      blocks++;
      const block = JSON.parse((entity.Counts as string | undefined) ?? '{}') as Partial<TaskCounts>;
      for (const status of TASK_STATUSES) counts[status] += block[status] ?? 0;
    }
    return blocks === 0 ? undefined : counts;
  }

  /**
   * Records tasks at positions `first`.. (0 for a new job; the job's task count for tasks added
   * later), each with its first status. Safe to repeat: a block already there keeps its tasks, and
   * the tasks of a part-filled block are added to it once.
   */
  async put(id: string, tasks: ReadonlyArray<{ id: string; status: TaskStatus }>, first = 0): Promise<void> {
    await this.ready();
    const earlier = first === 0 ? [] : [...(await this.#positionsOf(id, true)).keys()].slice(0, first);
    if (earlier.length < first)
      throw new NotFoundError(`job ${id} has fewer than ${first} tasks recorded`, 'TASKS_NOT_FOUND');
    const ids = [...earlier, ...tasks.map((task) => task.id)];
    const blob = this.#specs.getBlockBlobClient(jobLayout.taskIds(id));
    const text = JSON.stringify(ids);
    await blob.upload(text, Buffer.byteLength(text), {
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
    this.#positions.set(id, new Map(ids.map((taskId, i) => [taskId, i])));
    const now = new Date().toISOString();
    const blocks: number[] = [];
    const last = first + tasks.length - 1;
    for (let b = Math.floor(first / TASKS_PER_BLOCK); b <= Math.floor(last / TASKS_PER_BLOCK); b++)
      blocks.push(b);
    let next = 0;
    const worker = async () => {
      while (next < blocks.length) {
        const block = blocks[next++]!;
        const from = Math.max(first, block * TASKS_PER_BLOCK);
        const records = tasks
          .slice(from - first, (block + 1) * TASKS_PER_BLOCK - first)
          .map((task): StoredTask => ({ i: task.id, s: task.status, a: 1, u: now }));
        if (from > block * TASKS_PER_BLOCK) await this.#extendBlock(id, block, records);
        else await this.#createBlock(id, block, records);
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, blocks.length) }, worker));
  }

  async #createBlock(id: string, block: number, records: StoredTask[]): Promise<void> {
    try {
      await this.#tasks.createEntity(blockEntity(id, block, records));
    } catch (error) {
      // A repeat: the block exists and its tasks may have moved on since; keep them.
      if (!isStatus(error, 409)) throw error;
    }
  }

  /** Adds tasks to a part-filled block, leaving those it has (they may have moved on). */
  async #extendBlock(id: string, block: number, records: StoredTask[]): Promise<void> {
    for (let attempt = 0; attempt < MAX_BLOCK_ATTEMPTS; attempt++) {
      const entity = await this.#tasks.getEntity<Entity>(id, blockRowKey(block));
      const stored = joinJson<StoredTask[]>(entity, 'Tasks') ?? [];
      const have = new Set(stored.map((record) => record.i));
      const added = records.filter((record) => !have.has(record.i));
      if (added.length === 0) return;
      try {
        await this.#tasks.updateEntity(blockEntity(id, block, [...stored, ...added]), 'Replace', {
          etag: entity.etag,
        });
        return;
      } catch (error) {
        if (!isStatus(error, 412)) throw error;
        await backoff(attempt);
      }
    }
    throw new TransientError('TASKS_BUSY', `block ${block} of job ${id} is changing too often`);
  }

  /**
   * Task positions by id, from the list written by putTasks; cached for the jobs in flight, read
   * again with `fresh` (tasks may have been added since, by another process).
   */
  async #positionsOf(id: string, fresh = false): Promise<Map<string, number>> {
    let positions = fresh ? undefined : this.#positions.get(id);
    if (!positions) {
      const buffer = await this.#specs
        .getBlobClient(jobLayout.taskIds(id))
        .downloadToBuffer()
        .catch((error: unknown) => {
          if (isStatus(error, 404))
            throw new NotFoundError(`job ${id} has no tasks recorded`, 'TASKS_NOT_FOUND');
          throw error;
        });
      const ids = JSON.parse(buffer.toString('utf8')) as string[];
      positions = new Map(ids.map((taskId, i) => [taskId, i]));
      if (this.#positions.size >= 32) this.#positions.delete(this.#positions.keys().next().value!);
      this.#positions.set(id, positions);
    }
    return positions;
  }

  async update(
    id: string,
    updates: readonly TaskUpdate[],
    options: TaskUpdateOptions = {},
  ): Promise<TaskUpdateResult> {
    await this.ready();
    let positions = await this.#positionsOf(id);
    // A task this process has not seen may have been added to the job since it last looked.
    if (updates.some((update) => !positions.has(update.id))) positions = await this.#positionsOf(id, true);
    const byBlock = new Map<number, TaskUpdate[]>();
    for (const update of updates) {
      const position = positions.get(update.id);
      if (position === undefined)
        throw new NotFoundError(`job ${id} has no task ${update.id}`, 'TASK_NOT_FOUND');
      const block = Math.floor(position / TASKS_PER_BLOCK);
      byBlock.set(block, [...(byBlock.get(block) ?? []), update]);
    }
    if (options.log) return this.#oneAtATime(id, () => this.#updateTasksLogged(id, byBlock));
    const changes: TaskChange[] = [];
    let unfinishedNearby = 0;
    await Promise.all(
      [...byBlock].map(async ([block, blockUpdates]) => {
        for (let attempt = 0; attempt < MAX_BLOCK_ATTEMPTS; attempt++) {
          const entity = await this.#tasks.getEntity<Entity>(id, blockRowKey(block));
          const records = joinJson<StoredTask[]>(entity, 'Tasks') ?? [];
          const blockChanges = applyObservations(records, blockUpdates);
          if (blockChanges.length === 0) {
            unfinishedNearby += unfinished(records);
            return;
          }
          try {
            await this.#tasks.updateEntity(blockEntity(id, block, records), 'Replace', { etag: entity.etag });
            changes.push(...blockChanges);
            unfinishedNearby += unfinished(records);
            return;
          } catch (error) {
            // Another update to the same block won: back off a little (jittered, so the losers do
            // not collide again in step), read it again and re-apply.
            if (!isStatus(error, 412)) throw error;
            await backoff(attempt);
          }
        }
        throw new TransientError('STORE_CONTENDED', `tasks of job ${id} are changing too often; retry`);
      }),
    );
    return { changes, unfinishedNearby };
  }

  /**
   * Runs a job's logged task writes one after another in this process. They all move the job's
   * log counter, so concurrent ones would only fail its etag and go round again, each failure a
   * wasted read and transaction; the etag still keeps writers in other processes apart.
   */
  #oneAtATime<T>(id: string, work: () => Promise<T>): Promise<T> {
    const before = this.#loggedWrites.get(id) ?? Promise.resolve();
    const run = before.then(work);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#loggedWrites.set(id, settled);
    void settled.then(() => {
      if (this.#loggedWrites.get(id) === settled) this.#loggedWrites.delete(id);
    });
    return run;
  }

  /**
   * Applies observations and logs the changes: blocks, their log entries and the moved counter go
   * in one transaction, so the log has exactly the changes stored, numbered in the order they were
   * made. A concurrent writer fails the counter's etag: read again, apply again. A call's blocks go
   * in as few transactions as fit a transaction's limits (100 entities, 4 MB).
   */
  async #updateTasksLogged(id: string, byBlock: Map<number, TaskUpdate[]>): Promise<TaskUpdateResult> {
    // At most a block's worth of observations per item, so one item always fits a transaction.
    const queue: Array<[number, TaskUpdate[]]> = [];
    for (const [block, updates] of byBlock) {
      for (const part of chunks(updates, TASKS_PER_BLOCK)) queue.push([block, part]);
    }
    const changes: TaskChange[] = [];
    let unfinishedNearby = 0;
    let logged: { first: number; last: number } | undefined;
    while (queue.length > 0) {
      // A block appears once per transaction; its later items wait for the next one.
      const group: Array<[number, TaskUpdate[]]> = [];
      const blocks = new Set<number>();
      for (const item of queue) {
        if (group.length === BLOCKS_PER_LOGGED_WRITE) break;
        if (blocks.has(item[0])) continue;
        blocks.add(item[0]);
        group.push(item);
      }
      let done: Array<[number, TaskUpdate[]]> | undefined;
      for (let attempt = 0; attempt < MAX_BLOCK_ATTEMPTS && !done; attempt++) {
        const [counter, ...entities] = await Promise.all([
          this.logCounter(id),
          ...group.map(([block]) => this.#tasks.getEntity<Entity>(id, blockRowKey(block))),
        ]);
        const included: Array<[number, TaskUpdate[]]> = [];
        const groupChanges: TaskChange[] = [];
        const blockActions: TransactionAction[] = [];
        let bytes = 0;
        let groupUnfinished = 0;
        for (const [i, item] of group.entries()) {
          const [block, blockUpdates] = item;
          const entity = entities[i]!;
          const records = joinJson<StoredTask[]>(entity, 'Tasks') ?? [];
          const blockChanges = applyObservations(records, blockUpdates);
          if (blockChanges.length > 0) {
            const update = blockEntity(id, block, records);
            const size = jsonBytes(update) + blockChanges.reduce((n, c) => n + jsonBytes(c), 0);
            const rows = Math.ceil((groupChanges.length + blockChanges.length) / LOG_ENTRIES_PER_ROW);
            const fits = blockActions.length + 1 + rows + 1 <= MAX_TRANSACTION_ENTITIES;
            if (included.length > 0 && (!fits || bytes + size > MAX_TRANSACTION_BYTES)) break;
            bytes += size;
            groupChanges.push(...blockChanges);
            blockActions.push(['update', update, 'Replace', { etag: entity.etag }]);
          }
          groupUnfinished += unfinished(records);
          included.push(item);
        }
        if (groupChanges.length === 0) {
          unfinishedNearby += groupUnfinished;
          done = included;
          break;
        }
        const start = counter.sequence;
        const entries = groupChanges.map((change, i) => taskLogEntry(change, start + i + 1));
        const actions = [...blockActions];
        for (const part of chunks(entries, LOG_ENTRIES_PER_ROW)) {
          actions.push(['create', logRowEntity(id, part)]);
        }
        const through = start + entries.length;
        const counterEntity = { partitionKey: id, rowKey: LOG_COUNTER, Sequence: through };
        actions.push(
          counter.etag
            ? ['update', counterEntity, 'Replace', { etag: counter.etag }]
            : ['create', counterEntity],
        );
        try {
          await this.#tasks.submitTransaction(actions);
        } catch (error) {
          if (!isStatus(error, 412, 409)) throw error;
          await backoff(attempt);
          continue;
        }
        changes.push(...groupChanges);
        unfinishedNearby += groupUnfinished;
        logged = { first: logged?.first ?? start + 1, last: through };
        done = included;
      }
      if (!done) {
        throw new TransientError('STORE_CONTENDED', `tasks of job ${id} are changing too often; retry`);
      }
      const finished = new Set(done);
      queue.splice(0, queue.length, ...queue.filter((item) => !finished.has(item)));
    }
    return { changes, unfinishedNearby, ...(logged ? { logged } : {}) };
  }

  /** The task event log's last sequence number (0 before the first entry) and its row's etag. */
  async logCounter(id: string): Promise<{ sequence: number; etag?: string }> {
    try {
      const entity = await this.#tasks.getEntity<Entity>(id, LOG_COUNTER);
      return { sequence: entity.Sequence as number, etag: entity.etag };
    } catch (error) {
      if (isStatus(error, 404)) return { sequence: 0 };
      throw error;
    }
  }

  async log(id: string, options: { after: number; limit: number }): Promise<TaskLogEntry[]> {
    await this.ready();
    // The row holding entry `after + 1` starts at most a row's length of entries before it.
    const from = Math.max(1, options.after - LOG_ENTRIES_PER_ROW + 2);
    const filter =
      `PartitionKey eq ${odata(id)} and RowKey ge ${odata(logRowKey(from))}` +
      ` and RowKey lt ${odata(LOG_COUNTER)}`;
    const out: TaskLogEntry[] = [];
    for await (const entity of this.#tasks.listEntities<Entity>({ queryOptions: { filter } })) {
      const first = entity.First as number;
      const stored = joinJson<StoredLogEntry[]>(entity, 'Entries') ?? [];
      stored.forEach((entry, i) => {
        if (first + i > options.after && out.length < options.limit) out.push(fromLogEntry(entry, first + i));
      });
      if (out.length >= options.limit) break;
    }
    return out;
  }

  /** One task, read from its block; undefined when the job has no such task. */
  async get(id: string, taskId: string): Promise<TaskRecord | undefined> {
    await this.ready();
    let position = (await this.#positionsOf(id)).get(taskId);
    position ??= (await this.#positionsOf(id, true)).get(taskId);
    if (position === undefined) return undefined;
    const entity = await this.#tasks.getEntity<Entity>(
      id,
      blockRowKey(Math.floor(position / TASKS_PER_BLOCK)),
    );
    const record = (joinJson<StoredTask[]>(entity, 'Tasks') ?? []).find((task) => task.i === taskId);
    return record ? fromStored(record) : undefined;
  }

  async list(
    id: string,
    options: { status?: TaskStatus; limit: number; continuation?: string },
  ): Promise<Page<TaskRecord>> {
    await this.ready();
    let { block, offset } = decodeTaskCursor(options.continuation);
    const items: TaskRecord[] = [];
    // Blocks hold 100 tasks: read as many as the page needs, more when a status filter thins them.
    const blocksPerRead = options.status ? 20 : Math.ceil(options.limit / TASKS_PER_BLOCK) + 1;
    for (;;) {
      const filter =
        `PartitionKey eq ${odata(id)} and RowKey ge ${odata(blockRowKey(block))}` +
        ` and RowKey lt ${odata(BLOCKS_END)}`;
      const page = await this.#tasks
        .listEntities<Entity>({ queryOptions: { filter } })
        .byPage({ maxPageSize: blocksPerRead })
        .next();
      const entities = page.done ? [] : [...page.value];
      if (entities.length === 0) return { items };
      for (const entity of entities) {
        block = Number(entity.rowKey.slice(1));
        const records = joinJson<StoredTask[]>(entity, 'Tasks') ?? [];
        for (; offset < records.length; offset++) {
          const record = records[offset]!;
          if (options.status && record.s !== options.status) continue;
          if (items.length === options.limit) {
            return { items, continuation: encodeTaskCursor(block, offset) };
          }
          items.push(fromStored(record));
        }
        block++;
        offset = 0;
      }
      if (entities.length < blocksPerRead) return { items };
    }
  }

  /**
   * Marks the job as followed live until `until`. The mark shares the tasks' partition (after the
   * blocks and the log, so neither's range reads it) and is only ever moved later.
   */
  async watch(id: string, until: string): Promise<void> {
    await this.ready();
    const current = await this.watchedUntil(id);
    if (current !== undefined && current >= until) return;
    await this.#tasks.upsertEntity({ partitionKey: id, rowKey: WATCH_ROW, Until: until }, 'Replace');
  }

  async watchedUntil(id: string): Promise<string | undefined> {
    await this.ready();
    try {
      const entity = await this.#tasks.getEntity<Entity>(id, WATCH_ROW, {
        queryOptions: { select: ['Until'] },
      });
      return typeof entity.Until === 'string' ? entity.Until : undefined;
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  /** Forgets a deleted job's tasks and its task log. */
  async forget(id: string): Promise<void> {
    const rows: TransactionAction[] = [];
    for await (const entity of this.#tasks.listEntities<Entity>({
      queryOptions: { filter: `PartitionKey eq ${odata(id)}`, select: ['RowKey'] },
    })) {
      rows.push(['delete', { partitionKey: id, rowKey: entity.rowKey }]);
    }
    for (let i = 0; i < rows.length; i += 100) await this.#tasks.submitTransaction(rows.slice(i, i + 100));
    this.#positions.delete(id);
    await this.#specs.getBlobClient(jobLayout.taskIds(id)).deleteIfExists();
  }
}

function logRowEntity(id: string, entries: TaskLogEntry[]): Entity {
  const stored = entries.map((entry): StoredLogEntry => {
    const out: StoredLogEntry = {
      t: entry.taskId,
      s: entry.status,
      p: entry.previousStatus,
      a: entry.attempt,
      u: entry.at,
    };
    if (entry.exitCode !== undefined) out.x = entry.exitCode;
    if (entry.failure) out.f = [entry.failure.code, entry.failure.message];
    return out;
  });
  return {
    partitionKey: id,
    rowKey: logRowKey(entries[0]!.sequence),
    First: entries[0]!.sequence,
    Count: entries.length,
    ...splitJson(stored, 'Entries'),
  };
}

function fromLogEntry(entry: StoredLogEntry, sequence: number): TaskLogEntry {
  return {
    sequence,
    taskId: entry.t,
    status: entry.s,
    previousStatus: entry.p,
    attempt: entry.a,
    ...(entry.x !== undefined ? { exitCode: entry.x } : {}),
    ...(entry.f ? { failure: { code: entry.f[0], message: entry.f[1] } } : {}),
    at: entry.u,
  };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

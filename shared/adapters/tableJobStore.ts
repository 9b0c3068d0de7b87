import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import { ConflictError, NotFoundError, TransientError, ValidationError } from '../errors.js';
import { isStatus, lazily, odata, tablePage, type Entity } from './tables.js';
import type { TableSource } from './storageAccount.js';
import { TABLES } from '../storageLayout.js';
import { jobLayout } from '../domain/jobLayout.js';
import type { JobSpec, TemplateBody } from '../domain/jobSpec.js';
import { countStatuses } from '../domain/taskState.js';
import {
  TASK_STATUSES,
  compareTaskObservation,
  isFinal,
  isFinalTask,
  transitionJob,
  type ActiveStatus,
  type JobCondition,
  type JobStatus,
  type TaskStatus,
} from '../domain/lifecycle.js';
import {
  taskLogEntry,
  type CreateResult,
  type HistoryEntry,
  type JobRecord,
  type JobStore,
  type NewJob,
  type Page,
  type StatusChange,
  type TaskChange,
  type TaskCounts,
  type TaskLogEntry,
  type TaskUpdateOptions,
  type TaskUpdateResult,
  type TaskRecord,
  type TaskUpdate,
  type TemplateRecord,
} from '../store/jobStore.js';

/** Where the store keeps things. */
export interface TableJobStoreOptions {
  tables: TableSource;
  /** Prefixes every table name (letters and digits). */
  tablePrefix: string;
  /** Holds specs too large for a table property. */
  specs: ContainerClient;
}

// Table string properties hold 32K UTF-16 characters; longer JSON is split across numbered ones.
const CHUNK = 30_000;
const MAX_CHUNKS = 15;
const INLINE_SPEC_LIMIT = CHUNK * MAX_CHUNKS;
const MAX_WRITE_ATTEMPTS = 20;
// A block row is shared by a hundred tasks whose signals may all arrive at once.
const MAX_BLOCK_ATTEMPTS = 100;

const backoff = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * 2 * Math.min(200, 2 ** attempt)));
// An Idempotency-Key whose job never appeared (its creator died) may be taken over after this.
const ABANDONED_KEY_MS = 60_000;

/** Row keys sort ascending; an inverted time puts the newest job first. */
const invertedTime = (iso: string) => String(8_640_000_000_000_000 - Date.parse(iso)).padStart(16, '0');
const jobRowKey = (createdAt: string, id: string) => `job|${invertedTime(createdAt)}|${id}`;
const historyRowKey = (id: string, sequence: number) => `hist|${id}|${String(sequence).padStart(8, '0')}`;
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

function splitJson(value: unknown, prefix: string): Record<string, string> {
  const text = JSON.stringify(value);
  const out: Record<string, string> = {};
  for (let i = 0; i * CHUNK < text.length; i++) out[`${prefix}${i}`] = text.slice(i * CHUNK, (i + 1) * CHUNK);
  if (text.length === 0) out[`${prefix}0`] = '';
  return out;
}

function joinJson<T>(entity: Record<string, unknown>, prefix: string): T | undefined {
  let text = '';
  for (let i = 0; typeof entity[`${prefix}${i}`] === 'string'; i++) text += entity[`${prefix}${i}`] as string;
  return text ? (JSON.parse(text) as T) : undefined;
}

function emptyCounts(): TaskCounts {
  return Object.fromEntries(TASK_STATUSES.map((status) => [status, 0])) as TaskCounts;
}

/**
 * The job store on Azure Table storage. A job's record and its history share a partition (the
 * owner's), so a status change and its history entry are written in one transaction; an index by
 * job id finds a job without knowing its owner; tasks have a partition per job.
 */
export class TableJobStore implements JobStore {
  readonly #jobs: TableClient;
  readonly #index: TableClient;
  readonly #idempotency: TableClient;
  readonly #tasks: TableClient;
  readonly #templates: TableClient;
  readonly #inflight: TableClient;
  readonly #specs: ContainerClient;
  readonly #positions = new Map<string, Map<string, number>>();
  /** Per job, the end of the chain of logged task writes under way in this process. */
  readonly #loggedWrites = new Map<string, Promise<void>>();
  readonly #locations = new Map<string, { owner: string; rowKey: string }>();

  constructor(options: TableJobStoreOptions) {
    const table = (name: string) => options.tables(`${options.tablePrefix}${name}`);
    this.#jobs = table(TABLES.jobs);
    this.#index = table(TABLES.jobIndex);
    this.#idempotency = table(TABLES.idempotency);
    this.#tasks = table(TABLES.tasks);
    this.#templates = table(TABLES.templates);
    this.#inflight = table(TABLES.inflight);
    this.#specs = options.specs;
  }

  /** Creates the tables and the spec container if they are missing; once per process. */
  readonly ready = lazily(() =>
    Promise.all([
      ...[this.#jobs, this.#index, this.#idempotency, this.#tasks, this.#templates, this.#inflight].map((t) =>
        t.createTable(),
      ),
      this.#specs.createIfNotExists(),
    ]),
  );

  async createJob(job: NewJob): Promise<CreateResult> {
    await this.ready();
    if (job.idempotency) {
      const earlier = await this.#claimIdempotencyKey(job);
      if (earlier) return { job: earlier, created: false };
    }
    const rowKey = jobRowKey(job.at, job.id);
    try {
      await this.#index.createEntity({
        partitionKey: job.id,
        rowKey: '',
        owner: job.owner,
        jobRowKey: rowKey,
      });
    } catch (error) {
      if (isStatus(error, 409))
        throw new ConflictError(`a job with id ${job.id} already exists`, 'JOB_EXISTS');
      throw error;
    }
    // Written before the job row, so no job is ever in flight without the reconciler seeing it.
    await this.#inflight.upsertEntity({ partitionKey: '', rowKey: job.id, Owner: job.owner }, 'Replace');
    const specJson = JSON.stringify(job.spec);
    let specProps: Record<string, string>;
    if (specJson.length > INLINE_SPEC_LIMIT) {
      await this.#specs
        .getBlockBlobClient(jobLayout.spec(job.id))
        .upload(specJson, Buffer.byteLength(specJson), {
          blobHTTPHeaders: { blobContentType: 'application/json' },
        });
      specProps = { SpecBlob: jobLayout.spec(job.id) };
    } else {
      specProps = splitJson(job.spec, 'Spec');
    }
    const message = 'submitted';
    const entity: Entity = {
      partitionKey: job.owner,
      rowKey,
      JobId: job.id,
      Name: job.name,
      ...(job.description !== undefined ? { Description: job.description } : {}),
      ...(job.template ? { Template: job.template } : {}),
      Pool: job.pool,
      Tags: JSON.stringify(job.tags),
      Status: 'PENDING',
      Message: message,
      Sequence: 1,
      TaskCount: job.taskCount,
      TaskCounts: JSON.stringify({ ...emptyCounts(), PENDING: job.taskCount }),
      CreatedAt: job.at,
      UpdatedAt: job.at,
      ...specProps,
    };
    await this.#jobs.submitTransaction([
      ['create', entity],
      [
        'create',
        historyEntity(job.owner, job.id, {
          sequence: 1,
          status: 'PENDING',
          message,
          at: job.at,
          taskCounts: { ...emptyCounts(), PENDING: job.taskCount },
        }),
      ],
    ]);
    const created = await this.getJob(job.id);
    if (!created)
      throw new TransientError('STORE_UNAVAILABLE', `job ${job.id} was written but cannot be read back`);
    return { job: created, created: true };
  }

  /** Records the key first, so two racing submissions with it cannot both create a job. */
  async #claimIdempotencyKey(job: NewJob): Promise<JobRecord | undefined> {
    const { key, requestDigest } = job.idempotency!;
    const rowKey = createHash('sha256').update(key).digest('hex');
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      try {
        await this.#idempotency.createEntity({
          partitionKey: job.owner,
          rowKey,
          JobId: job.id,
          RequestDigest: requestDigest,
          CreatedAt: job.at,
        });
        return undefined;
      } catch (error) {
        if (!isStatus(error, 409)) throw error;
      }
      const existing = await this.#idempotency
        .getEntity<Entity>(job.owner, rowKey)
        .catch((error: unknown) => {
          if (isStatus(error, 404)) return undefined;
          throw error;
        });
      if (!existing) continue;
      if (existing.RequestDigest !== requestDigest) {
        throw new ConflictError(
          'this Idempotency-Key was used for a different request; use a new key for a new job',
          'IDEMPOTENCY_KEY_REUSED',
        );
      }
      const earlier = await this.getJob(existing.JobId as string);
      if (earlier) return earlier;
      const age = Date.now() - Date.parse(existing.CreatedAt as string);
      if (age < ABANDONED_KEY_MS) {
        throw new ConflictError(
          'a request with this Idempotency-Key is still being processed; retry shortly',
          'IDEMPOTENCY_KEY_IN_PROGRESS',
        );
      }
      // Its creator died before storing the job: take the key over, if nobody else just did.
      await this.#idempotency
        .deleteEntity(job.owner, rowKey, { etag: existing.etag })
        .catch((error: unknown) => {
          if (!isStatus(error, 404, 412)) throw error;
        });
    }
    throw new TransientError('STORE_CONTENDED', 'the Idempotency-Key is contended; retry');
  }

  async #locate(id: string): Promise<{ owner: string; rowKey: string } | undefined> {
    // Where a job lives never changes, and every signal looks its job up: remember it.
    const known = this.#locations.get(id);
    if (known) return known;
    try {
      const entity = await this.#index.getEntity<Entity>(id, '');
      const found = { owner: entity.owner as string, rowKey: entity.jobRowKey as string };
      if (this.#locations.size >= 10_000) this.#locations.delete(this.#locations.keys().next().value!);
      this.#locations.set(id, found);
      return found;
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  /** The job's row; with `select`, only those properties (a job row carries its spec). */
  async #read(id: string, select?: string[]): Promise<TableEntityResult<Entity> | undefined> {
    await this.ready();
    const where = await this.#locate(id);
    if (!where) return undefined;
    try {
      return await this.#jobs.getEntity<Entity>(
        where.owner,
        where.rowKey,
        select ? { queryOptions: { select } } : {},
      );
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    // Signals read their job all the time; its spec (up to 450 KB inline) is not what they need.
    const entity = await this.#read(id, JOB_SUMMARY_PROPERTIES);
    return entity ? toJob(entity) : undefined;
  }

  async getSpec(id: string): Promise<JobSpec> {
    const entity = await this.#read(id);
    if (!entity) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    if (typeof entity.SpecBlob === 'string') {
      const buffer = await this.#specs.getBlobClient(entity.SpecBlob).downloadToBuffer();
      return JSON.parse(buffer.toString('utf8')) as JobSpec;
    }
    return joinJson<JobSpec>(entity, 'Spec')!;
  }

  async listJobs(
    owner: string,
    options: { status?: JobStatus; name?: string; limit: number; continuation?: string },
  ): Promise<Page<JobRecord>> {
    await this.ready();
    const filters = [`PartitionKey eq ${odata(owner)}`, `RowKey ge 'job|'`, `RowKey lt 'job}'`];
    if (options.status) filters.push(`Status eq ${odata(options.status)}`);
    if (options.name) filters.push(`Name eq ${odata(options.name)}`);
    return tablePage(
      this.#jobs,
      filters.join(' and '),
      options.limit,
      options.continuation,
      (entity) => toJob(entity),
      // Job rows are large (they carry the spec); a listing reads only the summary.
      JOB_SUMMARY_PROPERTIES,
    );
  }

  async recordStatus(id: string, change: StatusChange): Promise<{ job: JobRecord; changed: boolean }> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      // The task log's position is read before the change is written: task events logged by then
      // happened before it (whatever caused this change among them).
      const [entity, taskLog] = await Promise.all([
        this.#read(id, JOB_SUMMARY_PROPERTIES),
        this.#logCounter(id),
      ]);
      if (!entity) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
      const job = toJob(entity);
      // The same status reported again is a duplicate signal, not a new change.
      if (job.status === change.to) return { job, changed: false };
      const next = transitionJob(
        {
          status: job.status,
          ...(job.resumeStatus ? { resumeStatus: job.resumeStatus } : {}),
        },
        change.to,
        change.condition,
      );
      const sequence = job.sequence + 1;
      const update: Entity = {
        partitionKey: entity.partitionKey,
        rowKey: entity.rowKey,
        Status: next.status,
        ResumeStatus: next.resumeStatus ?? '',
        Condition: next.condition ?? '',
        Message: change.message,
        Sequence: sequence,
        UpdatedAt: change.at,
        ...(change.exitCodes ? { ExitCodes: JSON.stringify(change.exitCodes) } : {}),
        ...(change.taskCounts ? { TaskCounts: JSON.stringify(change.taskCounts) } : {}),
      };
      const actions: TransactionAction[] = [
        ['update', update, 'Merge', { etag: entity.etag }],
        [
          'create',
          historyEntity(job.owner, id, {
            sequence,
            status: next.status,
            previousStatus: job.status,
            ...(next.condition ? { condition: next.condition } : {}),
            message: change.message,
            at: change.at,
            ...(change.taskCounts ? { taskCounts: change.taskCounts } : {}),
            ...(change.exitCodes ? { exitCodes: change.exitCodes } : {}),
            ...(taskLog.sequence > 0 ? { taskSequence: taskLog.sequence } : {}),
          }),
        ],
      ];
      try {
        await this.#jobs.submitTransaction(actions);
      } catch (error) {
        // Someone else changed the job first: read it again and decide again.
        if (isStatus(error, 412, 409)) continue;
        throw error;
      }
      if (isFinal(next.status)) await this.#forgetInFlight(id);
      return { job: (await this.getJob(id))!, changed: true };
    }
    throw new TransientError(
      'STORE_CONTENDED',
      `job ${id} is changing too often to record its status; retry`,
    );
  }

  async #forgetInFlight(id: string): Promise<void> {
    await this.#inflight.deleteEntity('', id).catch((error: unknown) => {
      if (!isStatus(error, 404)) throw error;
    });
  }

  async listInFlight(): Promise<Array<{ id: string; owner: string }>> {
    await this.ready();
    const found: Array<{ id: string; owner: string }> = [];
    for await (const entity of this.#inflight.listEntities<Entity>({
      queryOptions: { filter: `PartitionKey eq ''`, select: ['RowKey', 'Owner'] },
    })) {
      found.push({ id: entity.rowKey, owner: entity.Owner as string });
    }
    return found;
  }

  async settledInFlight(id: string): Promise<boolean> {
    const job = await this.getJob(id);
    if (job && !isFinal(job.status)) return false;
    await this.#forgetInFlight(id);
    return true;
  }

  async taskCounts(id: string): Promise<TaskCounts | undefined> {
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

  async history(id: string): Promise<HistoryEntry[]> {
    const where = await this.#locate(id);
    if (!where) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    const entries: HistoryEntry[] = [];
    const prefix = `hist|${id}|`;
    const filter = `PartitionKey eq ${odata(where.owner)} and RowKey ge ${odata(prefix)} and RowKey lt ${odata(`hist|${id}}`)}`;
    for await (const entity of this.#jobs.listEntities<Entity>({ queryOptions: { filter } })) {
      entries.push({
        sequence: entity.Sequence as number,
        status: entity.Status as JobStatus,
        ...(entity.PreviousStatus ? { previousStatus: entity.PreviousStatus as JobStatus } : {}),
        ...(entity.Condition ? { condition: entity.Condition as JobCondition } : {}),
        message: entity.Message as string,
        at: entity.At as string,
        ...(entity.TaskCounts ? { taskCounts: JSON.parse(entity.TaskCounts as string) as TaskCounts } : {}),
        ...(entity.ExitCodes
          ? { exitCodes: JSON.parse(entity.ExitCodes as string) as Record<string, number> }
          : {}),
        ...(typeof entity.TaskSequence === 'number' ? { taskSequence: entity.TaskSequence } : {}),
      });
    }
    return entries;
  }

  async putTasks(id: string, tasks: ReadonlyArray<{ id: string; status: TaskStatus }>): Promise<void> {
    await this.ready();
    const ids = tasks.map((task) => task.id);
    const blob = this.#specs.getBlockBlobClient(jobLayout.taskIds(id));
    const text = JSON.stringify(ids);
    await blob.upload(text, Buffer.byteLength(text), {
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
    this.#positions.set(id, new Map(ids.map((taskId, i) => [taskId, i])));
    const now = new Date().toISOString();
    const blocks: number[] = [];
    for (let i = 0; i < tasks.length; i += TASKS_PER_BLOCK) blocks.push(i / TASKS_PER_BLOCK);
    let next = 0;
    const worker = async () => {
      while (next < blocks.length) {
        const block = blocks[next++]!;
        const records = tasks
          .slice(block * TASKS_PER_BLOCK, (block + 1) * TASKS_PER_BLOCK)
          .map((task): StoredTask => ({ i: task.id, s: task.status, a: 1, u: now }));
        try {
          await this.#tasks.createEntity({
            partitionKey: id,
            rowKey: blockRowKey(block),
            Counts: JSON.stringify(countStatuses(records.map((record) => record.s))),
            ...splitJson(records, 'Tasks'),
          });
        } catch (error) {
          // A repeat: the block exists and its tasks may have moved on since; keep them.
          if (!isStatus(error, 409)) throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, blocks.length) }, worker));
  }

  /** Task positions by id, from the list written by putTasks; cached for the jobs in flight. */
  async #positionsOf(id: string): Promise<Map<string, number>> {
    let positions = this.#positions.get(id);
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

  async updateTasks(
    id: string,
    updates: readonly TaskUpdate[],
    options: TaskUpdateOptions = {},
  ): Promise<TaskUpdateResult> {
    await this.ready();
    const positions = await this.#positionsOf(id);
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
          this.#logCounter(id),
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
  async #logCounter(id: string): Promise<{ sequence: number; etag?: string }> {
    try {
      const entity = await this.#tasks.getEntity<Entity>(id, LOG_COUNTER);
      return { sequence: entity.Sequence as number, etag: entity.etag };
    } catch (error) {
      if (isStatus(error, 404)) return { sequence: 0 };
      throw error;
    }
  }

  async taskLog(id: string, options: { after: number; limit: number }): Promise<TaskLogEntry[]> {
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

  async listTasks(
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

  async deleteJob(id: string): Promise<void> {
    const where = await this.#locate(id);
    if (!where) return;
    const rows: TransactionAction[] = [];
    const filter = `PartitionKey eq ${odata(where.owner)} and RowKey ge ${odata(`hist|${id}|`)} and RowKey lt ${odata(`hist|${id}}`)}`;
    for await (const entity of this.#jobs.listEntities<Entity>({
      queryOptions: { filter, select: ['RowKey'] },
    })) {
      rows.push(['delete', { partitionKey: where.owner, rowKey: entity.rowKey }]);
    }
    for (let i = 0; i < rows.length; i += 100) await this.#jobs.submitTransaction(rows.slice(i, i + 100));
    const tasks: TransactionAction[] = [];
    for await (const entity of this.#tasks.listEntities<Entity>({
      queryOptions: { filter: `PartitionKey eq ${odata(id)}`, select: ['RowKey'] },
    })) {
      tasks.push(['delete', { partitionKey: id, rowKey: entity.rowKey }]);
    }
    for (let i = 0; i < tasks.length; i += 100) await this.#tasks.submitTransaction(tasks.slice(i, i + 100));
    this.#positions.delete(id);
    this.#locations.delete(id);
    await this.#forgetInFlight(id);
    await this.#specs.getBlobClient(jobLayout.taskIds(id)).deleteIfExists();
    await this.#specs.getBlobClient(jobLayout.spec(id)).deleteIfExists();
    await this.#jobs.deleteEntity(where.owner, where.rowKey).catch((error: unknown) => {
      if (!isStatus(error, 404)) throw error;
    });
    // The index goes last: until then a retried delete can still find everything else.
    await this.#index.deleteEntity(id, '').catch((error: unknown) => {
      if (!isStatus(error, 404)) throw error;
    });
  }

  async putTemplate(template: TemplateRecord): Promise<{ template: TemplateRecord; created: boolean }> {
    await this.ready();
    const body = JSON.stringify(template.body);
    if (body.length > INLINE_SPEC_LIMIT) {
      throw new ValidationError('the template is too large', [
        { path: '(body)', message: `is ${body.length} characters; the limit is ${INLINE_SPEC_LIMIT}` },
      ]);
    }
    try {
      await this.#templates.createEntity({
        partitionKey: template.name,
        rowKey: '~owner',
        Owner: template.owner,
      });
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
      const owner = await this.#templates.getEntity<Entity>(template.name, '~owner');
      if (owner.Owner !== template.owner) {
        throw new ConflictError(
          `the template name "${template.name}" belongs to another user; choose another name`,
          'TEMPLATE_NAME_TAKEN',
        );
      }
    }
    const entity: Entity = {
      partitionKey: template.name,
      rowKey: template.version,
      Owner: template.owner,
      Public: template.public,
      ...(template.description !== undefined ? { Description: template.description } : {}),
      CreatedAt: template.createdAt,
      ...splitJson(template.body, 'Body'),
    };
    try {
      await this.#templates.createEntity(entity);
      return { template, created: true };
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
    }
    const existing = toTemplate(await this.#templates.getEntity<Entity>(template.name, template.version));
    if (
      JSON.stringify(existing.body) === body &&
      existing.public === template.public &&
      existing.description === template.description
    ) {
      return { template: existing, created: false };
    }
    throw new ConflictError(
      `template ${template.name}@${template.version} exists with other content; versions do not change, register a new one`,
      'TEMPLATE_VERSION_EXISTS',
    );
  }

  async getTemplate(name: string, version: string, caller: string): Promise<TemplateRecord | undefined> {
    await this.ready();
    if (version.startsWith('~')) return undefined;
    try {
      const template = toTemplate(await this.#templates.getEntity<Entity>(name, version));
      return template.public || template.owner === caller ? template : undefined;
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async listTemplateVersions(name: string, caller: string): Promise<TemplateRecord[]> {
    await this.ready();
    const out: TemplateRecord[] = [];
    for await (const entity of this.#templates.listEntities<Entity>({
      queryOptions: { filter: `PartitionKey eq ${odata(name)} and RowKey lt '~'` },
    })) {
      const template = toTemplate(entity);
      if (template.public || template.owner === caller) out.push(template);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async listTemplates(caller: string): Promise<Array<{ name: string; owner: string; versions: string[] }>> {
    await this.ready();
    const byName = new Map<string, { name: string; owner: string; versions: string[] }>();
    for await (const entity of this.#templates.listEntities<Entity>({
      queryOptions: {
        filter: `RowKey lt '~' and (Public eq true or Owner eq ${odata(caller)})`,
        select: ['PartitionKey', 'RowKey', 'Owner'],
      },
    })) {
      const entry = byName.get(entity.partitionKey) ?? {
        name: entity.partitionKey,
        owner: entity.Owner as string,
        versions: [],
      };
      entry.versions.push(entity.rowKey);
      byName.set(entity.partitionKey, entry);
    }
    return [...byName.values()];
  }
}

const JOB_SUMMARY_PROPERTIES = [
  'PartitionKey',
  'RowKey',
  'JobId',
  'Name',
  'Description',
  'Template',
  'Pool',
  'Tags',
  'Status',
  'ResumeStatus',
  'Condition',
  'Message',
  'ExitCodes',
  'Sequence',
  'TaskCount',
  'TaskCounts',
  'CreatedAt',
  'UpdatedAt',
];

function historyEntity(owner: string, id: string, entry: HistoryEntry): Entity {
  return {
    partitionKey: owner,
    rowKey: historyRowKey(id, entry.sequence),
    Sequence: entry.sequence,
    Status: entry.status,
    ...(entry.previousStatus ? { PreviousStatus: entry.previousStatus } : {}),
    ...(entry.condition ? { Condition: entry.condition } : {}),
    Message: entry.message,
    At: entry.at,
    ...(entry.taskCounts ? { TaskCounts: JSON.stringify(entry.taskCounts) } : {}),
    ...(entry.exitCodes ? { ExitCodes: JSON.stringify(entry.exitCodes) } : {}),
    ...(entry.taskSequence !== undefined ? { TaskSequence: entry.taskSequence } : {}),
  };
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

function toJob(entity: TableEntityResult<Entity>): JobRecord {
  const job: JobRecord = {
    id: entity.JobId as string,
    owner: entity.partitionKey,
    name: entity.Name as string,
    pool: entity.Pool as string,
    tags: JSON.parse((entity.Tags as string) || '{}') as Record<string, string>,
    status: entity.Status as JobStatus,
    message: (entity.Message as string) ?? '',
    sequence: entity.Sequence as number,
    taskCount: entity.TaskCount as number,
    taskCounts: {
      ...emptyCounts(),
      ...(JSON.parse((entity.TaskCounts as string) || '{}') as Partial<TaskCounts>),
    },
    createdAt: entity.CreatedAt as string,
    updatedAt: entity.UpdatedAt as string,
    etag: entity.etag,
  };
  if (entity.Description !== undefined) job.description = entity.Description as string;
  if (entity.Template) job.template = entity.Template as string;
  if (entity.ResumeStatus) job.resumeStatus = entity.ResumeStatus as ActiveStatus;
  if (entity.Condition) job.condition = entity.Condition as JobCondition;
  if (entity.ExitCodes) job.exitCodes = JSON.parse(entity.ExitCodes as string) as Record<string, number>;
  return job;
}

function toTemplate(entity: Entity): TemplateRecord {
  const template: TemplateRecord = {
    name: entity.partitionKey,
    version: entity.rowKey,
    owner: entity.Owner as string,
    public: entity.Public === true,
    body: joinJson<TemplateBody>(entity, 'Body') ?? {},
    createdAt: entity.CreatedAt as string,
  };
  if (entity.Description !== undefined) template.description = entity.Description as string;
  return template;
}

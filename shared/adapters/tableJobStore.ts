import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import { ConflictError, NotFoundError, TransientError } from '../errors.js';
import {
  contentionPause,
  deleteEntityIfThere,
  deleteRows,
  isStatus,
  lazily,
  odata,
  tablePage,
  type Entity,
} from './tables.js';
import { emptyCounts, TableTaskRows } from './tableTaskRows.js';
import { TableTemplates } from './tableTemplates.js';
import { ownerLogActions, TableOwnerLog } from './tableOwnerLog.js';
import type { TableSource } from './storageAccount.js';
import { TABLES } from '../storageLayout.js';
import { TableTaskCancels } from './tableTaskCancels.js';
import { endedBefore, jobListFilter, jobRowKey, priorityPage, tagProperties } from './tableJobQuery.js';
import { historyEntity, JOB_SUMMARY_PROPERTIES, toJob } from './tableJobRows.js';
import { appendTasks, readSpec, specProperties } from './tableJobSpecs.js';
import { jobLayout } from '../domain/jobLayout.js';
import type { JobSpec } from '../domain/jobSpec.js';
import {
  isFinal,
  transitionJob,
  type JobCondition,
  type JobStatus,
  type TaskStatus,
} from '../domain/lifecycle.js';
import {
  type AppendedTasks,
  type AppendTasksRequest,
  type CreateResult,
  type HistoryEntry,
  type JobRecord,
  type JobListOptions,
  type JobStore,
  type NewJob,
  type Page,
  type StatusChange,
  type TaskCounts,
  type TaskLogEntry,
  type TaskUpdateOptions,
  type TaskUpdateResult,
  type TaskRecord,
  type TaskUpdate,
  type TemplateRecord,
  type OwnerChange,
} from '../store/jobStore.js';

/** Where the store keeps things. */
export interface TableJobStoreOptions {
  tables: TableSource;
  /** Prefixes every table name (letters and digits). */
  tablePrefix: string;
  /** Holds specs too large for a table property. */
  specs: ContainerClient;
  /**
   * Told after a job's status or tasks changed in this process, so live streams of the job read
   * it at once instead of at their next poll.
   */
  changed?: (jobId: string) => void;
}

// Writes that race on a job's row (its etag) try again this many times.
const MAX_WRITE_ATTEMPTS = 20;

// An Idempotency-Key whose job never appeared (its creator died) may be taken over after this.
const ABANDONED_KEY_MS = 60_000;

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
  readonly #taskRows: TableTaskRows;
  readonly #cancels: TableTaskCancels;
  readonly #templateRows: TableTemplates;
  readonly #locations = new Map<string, { owner: string; rowKey: string }>();
  readonly #ownerLog: TableOwnerLog;
  readonly #changed: ((jobId: string) => void) | undefined;

  constructor(options: TableJobStoreOptions) {
    const table = (name: string) => options.tables(`${options.tablePrefix}${name}`);
    this.#jobs = table(TABLES.jobs);
    this.#index = table(TABLES.jobIndex);
    this.#idempotency = table(TABLES.idempotency);
    this.#tasks = table(TABLES.tasks);
    this.#templates = table(TABLES.templates);
    this.#inflight = table(TABLES.inflight);
    this.#specs = options.specs;
    this.#changed = options.changed;
    this.#taskRows = new TableTaskRows(this.#tasks, this.#specs, () => this.ready());
    this.#cancels = new TableTaskCancels(this.#tasks, () => this.ready());
    this.#templateRows = new TableTemplates(this.#templates, () => this.ready());
    this.#ownerLog = new TableOwnerLog(this.#jobs, () => this.ready());
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
    const specProps = await specProperties(this.#specs, job.id, job.spec);
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
      ...tagProperties(job.tags),
      Priority: job.priority ?? 0,
      ...(job.resubmittedFrom ? { ResubmittedFrom: job.resubmittedFrom } : {}),
      ...(job.open ? { Open: true } : {}),
      Status: 'PENDING',
      Message: message,
      Sequence: 1,
      TaskCount: job.taskCount,
      TaskCounts: JSON.stringify({ ...emptyCounts(), PENDING: job.taskCount }),
      CreatedAt: job.at,
      UpdatedAt: job.at,
      ...specProps,
    };
    const first = historyEntity(job.owner, job.id, {
      sequence: 1,
      status: 'PENDING',
      message,
      at: job.at,
      taskCounts: { ...emptyCounts(), PENDING: job.taskCount },
    });
    for (let attempt = 0; ; attempt++) {
      const ownerLog = await this.#ownerLog.counter(job.owner);
      try {
        await this.#jobs.submitTransaction([
          ['create', entity],
          // Where its owner-log entry is, so deleting the job can take that too.
          ['create', { ...first, OwnerPosition: ownerLog.position + 1 }],
          ...ownerLogActions(job.owner, ownerLog, job.id, 1),
        ]);
        break;
      } catch (error) {
        // Only the owner's log counter can be taken: another of the owner's jobs just changed.
        if (!isStatus(error, 412, 409)) throw error;
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          throw new TransientError(
            'STORE_CONTENDED',
            `your jobs are changing too fast to record job ${job.id}; retry`,
            { retryAfterMs: 1000 },
          );
        }
        await contentionPause(attempt);
      }
    }
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

  async setPriority(id: string, priority: number): Promise<JobRecord> {
    const where = await this.#locate(id);
    if (!where) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    // One property of its own: a merge cannot undo anything another writer did to the row.
    await this.#jobs.updateEntity(
      { partitionKey: where.owner, rowKey: where.rowKey, Priority: priority },
      'Merge',
    );
    const job = await this.getJob(id);
    if (!job) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    return job;
  }

  async addResubmission(id: string, resubmission: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const entity = await this.#read(id, ['PartitionKey', 'RowKey', 'Resubmissions']);
      if (!entity) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
      const list = JSON.parse((entity.Resubmissions as string | undefined) || '[]') as string[];
      if (list.includes(resubmission)) return;
      try {
        // Only this property, and only over the version read: two resubmissions at once both land.
        await this.#jobs.updateEntity(
          {
            partitionKey: entity.partitionKey,
            rowKey: entity.rowKey,
            Resubmissions: JSON.stringify([...list, resubmission]),
          },
          'Merge',
          { etag: entity.etag },
        );
        return;
      } catch (error) {
        if (!isStatus(error, 412)) throw error;
      }
    }
    throw new TransientError('JOB_BUSY', `job ${id} is changing too often to record its resubmission`);
  }

  async getSpec(id: string): Promise<JobSpec> {
    const entity = await this.#read(id);
    if (!entity) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    return readSpec(this.#specs, entity);
  }

  async appendTasks(id: string, request: AppendTasksRequest): Promise<AppendedTasks> {
    const appended = await appendTasks(
      {
        jobs: this.#jobs,
        specs: this.#specs,
        read: (jobId) => this.#read(jobId),
        attempts: MAX_WRITE_ATTEMPTS,
      },
      id,
      request,
    );
    if (!appended.replayed) this.#changed?.(id);
    return appended;
  }

  async taskSets(id: string): Promise<Array<{ first: number; count: number }>> {
    const entity = await this.#read(id, ['TaskSets']);
    const sets = JSON.parse((entity?.TaskSets as string | undefined) || '[]') as Array<{
      first: number;
      count: number;
    }>;
    return sets.map(({ first, count }) => ({ first, count }));
  }

  async closeJob(id: string): Promise<void> {
    const where = await this.#locate(id);
    if (!where) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    // One property, merged: it moves the etag, so an addition racing it is read again and refused.
    await this.#jobs.updateEntity({ partitionKey: where.owner, rowKey: where.rowKey, Open: false }, 'Merge');
  }

  async listJobs(owner: string, options: JobListOptions): Promise<Page<JobRecord>> {
    await this.ready();
    if (options.sort === 'priority') {
      return priorityPage(this.#jobs, owner, options, JOB_SUMMARY_PROPERTIES, (entity) => toJob(entity));
    }
    return tablePage(
      this.#jobs,
      jobListFilter(owner, options),
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
        this.#taskRows.logCounter(id),
      ]);
      if (!entity) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
      const job = toJob(entity);
      const ownerLog = await this.#ownerLog.counter(job.owner);
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
          {
            OwnerPosition: ownerLog.position + 1,
            ...historyEntity(job.owner, id, {
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
          },
        ],
        // The owner's change log moves in the same write, so it has exactly the changes recorded.
        ...ownerLogActions(job.owner, ownerLog, id, sequence),
      ];
      try {
        await this.#jobs.submitTransaction(actions);
      } catch (error) {
        // Someone else changed the job (or another of the owner's jobs) first: read, decide again.
        if (!isStatus(error, 412, 409)) throw error;
        await contentionPause(attempt);
        continue;
      }
      this.#changed?.(id);
      if (isFinal(next.status)) await this.#forgetInFlight(id);
      return { job: (await this.getJob(id))!, changed: true };
    }
    throw new TransientError(
      'STORE_CONTENDED',
      `job ${id} is changing too often to record its status; retry`,
    );
  }

  async #forgetInFlight(id: string): Promise<void> {
    await deleteEntityIfThere(this.#inflight, '', id);
  }

  ownerChanges(owner: string, options: { after: number; limit: number }): Promise<OwnerChange[]> {
    return this.#ownerLog.changes(owner, options);
  }

  ownerHead(owner: string): Promise<number> {
    return this.#ownerLog.head(owner);
  }

  async listInFlight(owner?: string): Promise<Array<{ id: string; owner: string }>> {
    await this.ready();
    const found: Array<{ id: string; owner: string }> = [];
    const filter =
      owner === undefined ? `PartitionKey eq ''` : `PartitionKey eq '' and Owner eq ${odata(owner)}`;
    for await (const entity of this.#inflight.listEntities<Entity>({
      queryOptions: { filter, select: ['RowKey', 'Owner'] },
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

  taskCounts(id: string): Promise<TaskCounts | undefined> {
    return this.#taskRows.counts(id);
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

  putTasks(id: string, tasks: ReadonlyArray<{ id: string; status: TaskStatus }>, first = 0): Promise<void> {
    return this.#taskRows.put(id, tasks, first);
  }

  async updateTasks(
    id: string,
    updates: readonly TaskUpdate[],
    options: TaskUpdateOptions = {},
  ): Promise<TaskUpdateResult> {
    const result = await this.#taskRows.update(id, updates, options);
    if (result.changes.length > 0) this.#changed?.(id);
    return result;
  }

  taskLog(id: string, options: { after: number; limit: number }): Promise<TaskLogEntry[]> {
    return this.#taskRows.log(id, options);
  }

  watch(id: string, until: string): Promise<void> {
    return this.#taskRows.watch(id, until);
  }

  watchedUntil(id: string): Promise<string | undefined> {
    return this.#taskRows.watchedUntil(id);
  }

  listTasks(
    id: string,
    options: { status?: TaskStatus; limit: number; continuation?: string },
  ): Promise<Page<TaskRecord>> {
    return this.#taskRows.list(id, options);
  }

  getTask(id: string, taskId: string): Promise<TaskRecord | undefined> {
    return this.#taskRows.get(id, taskId);
  }

  markTaskCancelled(id: string, taskId: string, by: string, at: string): Promise<void> {
    return this.#cancels.mark(id, taskId, by, at);
  }

  unmarkTaskCancelled(id: string, taskId: string): Promise<void> {
    return this.#cancels.unmark(id, taskId);
  }

  tasksCancelledAlone(id: string): Promise<Set<string>> {
    return this.#cancels.list(id);
  }

  async deleteJob(id: string): Promise<void> {
    const where = await this.#locate(id);
    if (!where) return;
    await deleteRows(this.#jobs, await this.#ownerLog.historyRows(where.owner, id));
    await this.#taskRows.forget(id);
    this.#locations.delete(id);
    await this.#forgetInFlight(id);
    await this.#specs.getBlobClient(jobLayout.spec(id)).deleteIfExists();
    await deleteEntityIfThere(this.#jobs, where.owner, where.rowKey);
    // The index goes last: until then a retried delete can still find everything else.
    await deleteEntityIfThere(this.#index, id, '');
  }

  async listEndedBefore(cutoff: string, limit: number): Promise<Array<{ id: string; owner: string }>> {
    await this.ready();
    return endedBefore(this.#jobs, cutoff, limit);
  }

  putTemplate(template: TemplateRecord): Promise<{ template: TemplateRecord; created: boolean }> {
    return this.#templateRows.put(template);
  }

  getTemplate(name: string, version: string, caller: string): Promise<TemplateRecord | undefined> {
    return this.#templateRows.get(name, version, caller);
  }

  listTemplateVersions(name: string, caller: string): Promise<TemplateRecord[]> {
    return this.#templateRows.versions(name, caller);
  }

  listTemplates(caller: string): Promise<Array<{ name: string; owner: string; versions: string[] }>> {
    return this.#templateRows.list(caller);
  }
}

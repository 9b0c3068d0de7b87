/* eslint-disable @typescript-eslint/require-await -- fakes keep the async signatures of what they stand in for, so a throw becomes a rejection as it does in the real store */
import { ConflictError, NotFoundError, ValidationError } from '../../shared/errors.js';
import type { JobSpec } from '../../shared/domain/jobSpec.js';
import {
  compareTaskObservation,
  isFinal,
  isFinalTask,
  TASK_STATUSES,
  transitionJob,
  type TaskStatus,
} from '../../shared/domain/lifecycle.js';
import {
  taskLogEntry,
  type CreateResult,
  type HistoryEntry,
  type JobRecord,
  type JobListOptions,
  type JobStore,
  type AppendedTasks,
  type AppendTasksRequest,
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
  type OwnerChange,
} from '../../shared/store/jobStore.js';
import type {
  OwnerSecret,
  SubscriptionRecord,
  SubscriptionStore,
} from '../../shared/store/subscriptionStore.js';
import {
  isTaskBatch,
  type DeliveryHead,
  type DeliveryRecord,
  type DeliveryStore,
  type DueStream,
} from '../../shared/store/deliveryStore.js';

const page = <T>(items: T[], limit: number, continuation?: string): Page<T> => {
  let offset = 0;
  if (continuation) {
    offset = Number(Buffer.from(continuation, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0) {
      throw new ValidationError('the continuation token is not valid', [
        { path: 'continuation', message: 'is not a token this API returned' },
      ]);
    }
  }
  const slice = items.slice(offset, offset + limit);
  const next =
    offset + limit < items.length ? Buffer.from(String(offset + limit)).toString('base64url') : undefined;
  return { items: slice, ...(next ? { continuation: next } : {}) };
};

/** A hand-written, in-memory JobStore with the same rules as the Tables one, for in-process tests. */
export class MemoryJobStore implements JobStore {
  readonly jobs = new Map<string, { job: JobRecord; spec: JobSpec }>();
  readonly histories = new Map<string, HistoryEntry[]>();
  readonly tasks = new Map<string, TaskRecord[]>();
  readonly taskLogs = new Map<string, TaskLogEntry[]>();
  readonly templates = new Map<string, TemplateRecord>();
  readonly owners = new Map<string, string>();
  readonly keys = new Map<string, { jobId: string; digest: string }>();

  async createJob(input: NewJob): Promise<CreateResult> {
    if (input.idempotency) {
      const key = `${input.owner}|${input.idempotency.key}`;
      const seen = this.keys.get(key);
      if (seen) {
        if (seen.digest !== input.idempotency.requestDigest) {
          throw new ConflictError(
            'this Idempotency-Key was used for a different request',
            'IDEMPOTENCY_KEY_REUSED',
          );
        }
        return { job: this.jobs.get(seen.jobId)!.job, created: false };
      }
      this.keys.set(key, { jobId: input.id, digest: input.idempotency.requestDigest });
    }
    if (this.jobs.has(input.id))
      throw new ConflictError(`a job with id ${input.id} already exists`, 'JOB_EXISTS');
    const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as TaskCounts;
    const job: JobRecord = {
      id: input.id,
      owner: input.owner,
      name: input.name,
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.template ? { template: input.template } : {}),
      pool: input.pool,
      tags: input.tags,
      priority: input.priority ?? 0,
      ...(input.resubmittedFrom ? { resubmittedFrom: input.resubmittedFrom } : {}),
      resubmissions: [],
      open: input.open ?? false,
      status: 'PENDING',
      message: 'submitted',
      sequence: 1,
      taskCount: input.taskCount,
      taskCounts: { ...counts, PENDING: input.taskCount },
      createdAt: input.at,
      updatedAt: input.at,
      etag: '1',
    };
    this.jobs.set(input.id, { job, spec: structuredClone(input.spec) });
    this.histories.set(input.id, [{ sequence: 1, status: 'PENDING', message: 'submitted', at: input.at }]);
    this.#logOwnerChange(input.owner, input.id, 1);
    return { job: { ...job }, created: true };
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const entry = this.jobs.get(id);
    return entry ? { ...entry.job } : undefined;
  }

  async getSpec(id: string): Promise<JobSpec> {
    const entry = this.jobs.get(id);
    if (!entry) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    return structuredClone(entry.spec);
  }

  async listJobs(owner: string, options: JobListOptions): Promise<Page<JobRecord>> {
    const { tag, createdAfter, createdBefore } = options;
    const items = [...this.jobs.values()]
      .map((e) => e.job)
      .filter(
        (j) =>
          j.owner === owner &&
          (!options.status || j.status === options.status) &&
          (!options.name || j.name === options.name) &&
          (!tag ||
            (Object.hasOwn(j.tags, tag.key) && (tag.value === undefined || j.tags[tag.key] === tag.value))) &&
          (!createdAfter || Date.parse(j.createdAt) >= Date.parse(createdAfter)) &&
          (!createdBefore || Date.parse(j.createdAt) < Date.parse(createdBefore)),
      )
      .sort(
        (a, b) =>
          (options.sort === 'priority' ? b.priority - a.priority : 0) ||
          b.createdAt.localeCompare(a.createdAt),
      );
    return page(items, options.limit, options.continuation);
  }

  async recordStatus(id: string, change: StatusChange): Promise<{ job: JobRecord; changed: boolean }> {
    const entry = this.jobs.get(id);
    if (!entry) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    const job = entry.job;
    if (job.status === change.to) return { job: { ...job }, changed: false };
    const next = transitionJob(
      { status: job.status, ...(job.resumeStatus ? { resumeStatus: job.resumeStatus } : {}) },
      change.to,
      change.condition,
    );
    const previous = job.status;
    job.status = next.status;
    if (next.resumeStatus) job.resumeStatus = next.resumeStatus;
    else delete job.resumeStatus;
    if (next.condition) job.condition = next.condition;
    if (change.exitCodes) job.exitCodes = change.exitCodes;
    if (change.taskCounts) job.taskCounts = { ...change.taskCounts };
    job.message = change.message;
    job.sequence += 1;
    job.updatedAt = change.at;
    this.#logOwnerChange(job.owner, id, job.sequence);
    this.histories.get(id)!.push({
      sequence: job.sequence,
      status: next.status,
      previousStatus: previous,
      ...(next.condition ? { condition: next.condition } : {}),
      message: change.message,
      at: change.at,
      ...(change.taskCounts ? { taskCounts: { ...change.taskCounts } } : {}),
      ...(change.exitCodes ? { exitCodes: { ...change.exitCodes } } : {}),
      ...(this.taskLogs.get(id)?.length ? { taskSequence: this.taskLogs.get(id)!.length } : {}),
    });
    return { job: { ...job }, changed: true };
  }

  async history(id: string): Promise<HistoryEntry[]> {
    const entries = this.histories.get(id);
    if (!entries) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    return entries.map((e) => ({ ...e }));
  }

  // Appends tasks it has not seen, so `first` (where the table store puts them) follows by itself.
  async putTasks(
    id: string,
    tasks: ReadonlyArray<{ id: string; status: TaskStatus }>,
    _first = 0,
  ): Promise<void> {
    const existing = this.tasks.get(id) ?? [];
    const known = new Set(existing.map((t) => t.id));
    for (const task of tasks) {
      if (!known.has(task.id))
        existing.push({ id: task.id, status: task.status, attempt: 1, updatedAt: new Date(0).toISOString() });
    }
    this.tasks.set(id, existing);
  }

  async updateTasks(
    id: string,
    updates: readonly TaskUpdate[],
    options: TaskUpdateOptions = {},
  ): Promise<TaskUpdateResult> {
    const tasks = this.tasks.get(id) ?? [];
    const changes: TaskChange[] = [];
    for (const update of updates) {
      const task = tasks.find((t) => t.id === update.id);
      if (!task) throw new NotFoundError(`job ${id} has no task ${update.id}`, 'TASK_NOT_FOUND');
      if (compareTaskObservation(task, update) !== 'apply') continue;
      const previousStatus = task.status;
      Object.assign(task, { status: update.status, attempt: update.attempt, updatedAt: update.at });
      if (update.exitCode !== undefined) task.exitCode = update.exitCode;
      if (update.failure) task.failure = update.failure;
      changes.push({ task: { ...task }, previousStatus });
    }
    let logged: { first: number; last: number } | undefined;
    if (options.log && changes.length > 0) {
      const log = this.taskLogs.get(id) ?? [];
      const first = log.length + 1;
      for (const change of changes) log.push(taskLogEntry(change, log.length + 1));
      this.taskLogs.set(id, log);
      logged = { first, last: log.length };
    }
    // Tasks are not kept in blocks here: every unfinished task counts as nearby.
    return {
      changes,
      unfinishedNearby: tasks.filter((t) => !isFinalTask(t.status)).length,
      ...(logged ? { logged } : {}),
    };
  }

  readonly watches = new Map<string, string>();
  readonly ownerLogs = new Map<string, OwnerChange[]>();

  #logOwnerChange(owner: string, jobId: string, sequence: number): void {
    const log = this.ownerLogs.get(owner) ?? [];
    log.push({ position: log.length + 1, jobId, sequence });
    this.ownerLogs.set(owner, log);
  }

  async ownerChanges(owner: string, options: { after: number; limit: number }): Promise<OwnerChange[]> {
    return (this.ownerLogs.get(owner) ?? [])
      .filter((c) => c.position > options.after)
      .slice(0, options.limit);
  }

  async ownerHead(owner: string): Promise<number> {
    return this.ownerLogs.get(owner)?.length ?? 0;
  }

  async watch(id: string, until: string): Promise<void> {
    if ((this.watches.get(id) ?? '') < until) this.watches.set(id, until);
  }

  async watchedUntil(id: string): Promise<string | undefined> {
    return this.watches.get(id);
  }

  async taskLog(id: string, options: { after: number; limit: number }): Promise<TaskLogEntry[]> {
    return (this.taskLogs.get(id) ?? [])
      .filter((entry) => entry.sequence > options.after)
      .slice(0, options.limit)
      .map((entry) => structuredClone(entry));
  }

  async taskCounts(id: string): Promise<TaskCounts | undefined> {
    const tasks = this.tasks.get(id);
    if (!tasks) return undefined;
    const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as TaskCounts;
    for (const task of tasks) counts[task.status]++;
    return counts;
  }

  async listInFlight(owner?: string): Promise<Array<{ id: string; owner: string }>> {
    return [...this.jobs.values()]
      .filter((e) => !isFinal(e.job.status) && (owner === undefined || e.job.owner === owner))
      .map((e) => ({ id: e.job.id, owner: e.job.owner }));
  }

  async settledInFlight(id: string): Promise<boolean> {
    const entry = this.jobs.get(id);
    return !entry || isFinal(entry.job.status);
  }

  async listTasks(
    id: string,
    options: { status?: TaskStatus; limit: number; continuation?: string },
  ): Promise<Page<TaskRecord>> {
    const items = (this.tasks.get(id) ?? []).filter((t) => !options.status || t.status === options.status);
    return page(items, options.limit, options.continuation);
  }

  async getTask(id: string, taskId: string): Promise<TaskRecord | undefined> {
    const task = this.tasks.get(id)?.find((t) => t.id === taskId);
    return task ? { ...task } : undefined;
  }

  readonly cancelNotes = new Map<string, Map<string, { by: string; at: string }>>();

  async markTaskCancelled(id: string, taskId: string, by: string, at: string): Promise<void> {
    const notes = this.cancelNotes.get(id) ?? new Map<string, { by: string; at: string }>();
    if (!notes.has(taskId)) notes.set(taskId, { by, at });
    this.cancelNotes.set(id, notes);
  }

  async unmarkTaskCancelled(id: string, taskId: string): Promise<void> {
    this.cancelNotes.get(id)?.delete(taskId);
  }

  async tasksCancelledAlone(id: string): Promise<Set<string>> {
    return new Set(this.cancelNotes.get(id)?.keys());
  }

  readonly additions = new Map<string, Array<{ first: number; count: number; key?: string }>>();

  async appendTasks(id: string, request: AppendTasksRequest): Promise<AppendedTasks> {
    const entry = this.jobs.get(id);
    if (!entry) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    const sets = this.additions.get(id) ?? [];
    const seen = sets.findIndex((set) => request.key !== undefined && set.key === request.key);
    if (seen >= 0) return { job: { ...entry.job }, set: seen + 1, ...sets[seen]!, replayed: true };
    if (!entry.job.open) throw new ConflictError(`job ${id} takes no more tasks`, 'JOB_NOT_OPEN');
    const next = { ...entry.spec, tasks: [...(entry.spec.tasks ?? []), ...request.tasks] };
    await request.check(next);
    const set = {
      first: entry.job.taskCount,
      count: request.tasks.length,
      ...(request.key ? { key: request.key } : {}),
    };
    entry.spec = next;
    entry.job = { ...entry.job, taskCount: entry.job.taskCount + set.count };
    this.additions.set(id, [...sets, set]);
    return {
      job: { ...entry.job },
      set: sets.length + 1,
      first: set.first,
      count: set.count,
      replayed: false,
    };
  }

  async taskSets(id: string): Promise<Array<{ first: number; count: number }>> {
    return (this.additions.get(id) ?? []).map(({ first, count }) => ({ first, count }));
  }

  async closeJob(id: string): Promise<void> {
    const entry = this.jobs.get(id);
    if (!entry) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    entry.job = { ...entry.job, open: false };
  }

  async addResubmission(id: string, resubmission: string): Promise<void> {
    const entry = this.jobs.get(id);
    if (!entry) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    if (!entry.job.resubmissions.includes(resubmission))
      entry.job = { ...entry.job, resubmissions: [...entry.job.resubmissions, resubmission] };
  }

  async setPriority(id: string, priority: number): Promise<JobRecord> {
    const entry = this.jobs.get(id);
    if (!entry) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    entry.job = { ...entry.job, priority };
    return entry.job;
  }

  async listEndedBefore(cutoff: string, limit: number): Promise<Array<{ id: string; owner: string }>> {
    return [...this.jobs.values()]
      .map((entry) => entry.job)
      .filter((job) => isFinal(job.status) && job.updatedAt < cutoff)
      .slice(0, limit)
      .map((job) => ({ id: job.id, owner: job.owner }));
  }

  async deleteJob(id: string): Promise<void> {
    this.jobs.delete(id);
    this.histories.delete(id);
    this.tasks.delete(id);
    this.taskLogs.delete(id);
    this.cancelNotes.delete(id);
  }

  async putTemplate(template: TemplateRecord): Promise<{ template: TemplateRecord; created: boolean }> {
    const owner = this.owners.get(template.name);
    if (owner && owner !== template.owner)
      throw new ConflictError('the template name belongs to another user', 'TEMPLATE_NAME_TAKEN');
    this.owners.set(template.name, template.owner);
    const key = `${template.name}@${template.version}`;
    const existing = this.templates.get(key);
    if (existing) {
      if (
        JSON.stringify(existing.body) === JSON.stringify(template.body) &&
        existing.public === template.public
      ) {
        return { template: existing, created: false };
      }
      throw new ConflictError('versions do not change', 'TEMPLATE_VERSION_EXISTS');
    }
    this.templates.set(key, template);
    return { template, created: true };
  }

  async getTemplate(name: string, version: string, caller: string): Promise<TemplateRecord | undefined> {
    const template = this.templates.get(`${name}@${version}`);
    return template && (template.public || template.owner === caller) ? template : undefined;
  }

  async listTemplateVersions(name: string, caller: string): Promise<TemplateRecord[]> {
    return [...this.templates.values()].filter((t) => t.name === name && (t.public || t.owner === caller));
  }

  async listTemplates(caller: string): Promise<Array<{ name: string; owner: string; versions: string[] }>> {
    const byName = new Map<string, { name: string; owner: string; versions: string[] }>();
    for (const t of this.templates.values()) {
      if (!t.public && t.owner !== caller) continue;
      const entry = byName.get(t.name) ?? { name: t.name, owner: t.owner, versions: [] };
      entry.versions.push(t.version);
      byName.set(t.name, entry);
    }
    return [...byName.values()];
  }
}

/** An in-memory SubscriptionStore. */
export class MemorySubscriptionStore implements SubscriptionStore {
  readonly items = new Map<string, SubscriptionRecord>();

  async create(subscription: SubscriptionRecord): Promise<void> {
    this.items.set(`${subscription.owner}|${subscription.id}`, structuredClone(subscription));
  }

  async get(owner: string, id: string): Promise<SubscriptionRecord | undefined> {
    const found = this.items.get(`${owner}|${id}`);
    return found ? structuredClone(found) : undefined;
  }

  async list(owner: string): Promise<SubscriptionRecord[]> {
    return [...this.items.values()].filter((s) => s.owner === owner).map((s) => structuredClone(s));
  }

  async listEnabled(owner: string): Promise<SubscriptionRecord[]> {
    return (await this.list(owner)).filter((s) => s.enabled);
  }

  async delete(owner: string, id: string): Promise<boolean> {
    return this.items.delete(`${owner}|${id}`);
  }

  async listExpired(now: string, limit: number): Promise<Array<{ owner: string; id: string }>> {
    return [...this.items.values()]
      .filter((s) => s.expiresAt !== undefined && s.expiresAt < now)
      .slice(0, limit)
      .map((s) => ({ owner: s.owner, id: s.id }));
  }

  async createIfAbsent(subscription: SubscriptionRecord): Promise<void> {
    if (!this.items.has(`${subscription.owner}|${subscription.id}`)) await this.create(subscription);
  }

  async disable(owner: string, id: string, reason: string): Promise<boolean> {
    const found = this.items.get(`${owner}|${id}`);
    if (!found) return false;
    found.enabled = false;
    found.disabledReason = reason;
    return true;
  }

  async enable(owner: string, id: string, at: string): Promise<boolean> {
    const found = this.items.get(`${owner}|${id}`);
    if (!found) return false;
    found.enabled = true;
    found.enabledAt = at;
    delete found.disabledReason;
    return true;
  }

  async rotateSecret(owner: string, id: string, secret: string, previousUntil: string): Promise<boolean> {
    const found = this.items.get(`${owner}|${id}`);
    if (!found) return false;
    found.previousSecret = { secret: found.secret, until: previousUntil };
    found.secret = secret;
    return true;
  }

  readonly secrets = new Map<string, OwnerSecret>();

  async ownerSecret(owner: string): Promise<OwnerSecret | undefined> {
    const found = this.secrets.get(owner);
    return found ? structuredClone(found) : undefined;
  }

  async setOwnerSecret(
    owner: string,
    secret: string,
    options: { onlyIfAbsent?: boolean; previousUntil?: string } = {},
  ): Promise<string> {
    const existing = this.secrets.get(owner);
    if (options.onlyIfAbsent && existing) return existing.secret;
    this.secrets.set(owner, {
      secret,
      ...(existing && options.previousUntil
        ? { previous: { secret: existing.secret, until: options.previousUntil } }
        : {}),
    });
    return secret;
  }
}

/** An in-memory DeliveryStore with the table store's etag semantics. */
export class MemoryDeliveryStore implements DeliveryStore {
  readonly rows = new Map<string, DeliveryRecord>();
  readonly dueEntries = new Map<string, DueStream>();
  #etag = 0;

  #key(record: Pick<DeliveryRecord, 'subscriptionId' | 'jobId' | 'sequence' | 'eventType'>): string {
    const tasks = isTaskBatch(record) ? 't' : '';
    return `${record.subscriptionId}|${record.jobId}:${tasks}${String(record.sequence).padStart(10, '0')}`;
  }

  #next(): string {
    return String(++this.#etag);
  }

  async stream(subscriptionId: string, jobId: string): Promise<DeliveryHead[]> {
    return [...this.rows.entries()]
      .filter(([key]) => key.startsWith(`${subscriptionId}|${jobId}:`))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, row]) => {
        const { body: _body, attempts: _attempts, ...head } = structuredClone(row);
        return head;
      });
  }

  async add(record: Omit<DeliveryRecord, 'etag'>): Promise<DeliveryRecord> {
    const key = this.#key(record);
    const existing = this.rows.get(key);
    if (existing) return structuredClone(existing);
    const stored = { ...structuredClone(record), etag: this.#next() };
    this.rows.set(key, stored);
    return structuredClone(stored);
  }

  async replace(record: DeliveryRecord): Promise<DeliveryRecord | undefined> {
    const key = this.#key(record);
    const existing = this.rows.get(key);
    if (!existing || existing.etag !== record.etag) return undefined;
    const stored = { ...structuredClone(record), etag: this.#next() };
    this.rows.set(key, stored);
    return structuredClone(stored);
  }

  async get(subscriptionId: string, id: string): Promise<DeliveryRecord | undefined> {
    const found = [...this.rows.values()].find((r) => r.subscriptionId === subscriptionId && r.id === id);
    return found ? structuredClone(found) : undefined;
  }

  async list(
    subscriptionId: string,
    options: { jobId?: string; status?: DeliveryRecord['status']; limit: number; continuation?: string },
  ): Promise<Page<DeliveryRecord>> {
    const items = [...this.rows.entries()]
      .filter(
        ([key, row]) =>
          key.startsWith(`${subscriptionId}|`) &&
          (!options.jobId || row.jobId === options.jobId) &&
          (!options.status || row.status === options.status),
      )
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, row]) => structuredClone(row));
    return page(items, options.limit, options.continuation);
  }

  async markDue(
    stream: Omit<DueStream, 'etag' | 'dueAt'>,
    dueAt: Date,
    options: { replace?: boolean } = {},
  ): Promise<void> {
    const key = `${stream.subscriptionId}|${stream.jobId}`;
    const existing = this.dueEntries.get(key);
    const at = dueAt.toISOString();
    const keep = !options.replace && existing && existing.dueAt < at;
    this.dueEntries.set(key, { ...stream, dueAt: keep ? existing.dueAt : at, etag: this.#next() });
  }

  async due(now: Date, limit: number): Promise<DueStream[]> {
    return [...this.dueEntries.values()]
      .filter((entry) => entry.dueAt <= now.toISOString())
      .sort((a, b) => a.dueAt.localeCompare(b.dueAt))
      .slice(0, limit)
      .map((entry) => ({ ...entry }));
  }

  async dueEntry(subscriptionId: string, jobId: string): Promise<DueStream | undefined> {
    const found = this.dueEntries.get(`${subscriptionId}|${jobId}`);
    return found ? { ...found } : undefined;
  }

  async postpone(entry: DueStream, dueAt: Date): Promise<boolean> {
    const key = `${entry.subscriptionId}|${entry.jobId}`;
    const existing = this.dueEntries.get(key);
    if (!existing || existing.etag !== entry.etag) return false;
    this.dueEntries.set(key, { ...existing, dueAt: dueAt.toISOString(), etag: this.#next() });
    return true;
  }

  async forget(subscriptionId: string, options: { jobId?: string } = {}): Promise<void> {
    const { jobId } = options;
    for (const key of [...this.rows.keys()]) {
      if (key.startsWith(jobId === undefined ? `${subscriptionId}|` : `${subscriptionId}|${jobId}:`))
        this.rows.delete(key);
    }
    for (const key of [...this.dueEntries.keys()]) {
      if (jobId === undefined ? key.startsWith(`${subscriptionId}|`) : key === `${subscriptionId}|${jobId}`)
        this.dueEntries.delete(key);
    }
  }

  async clearDue(entry: DueStream): Promise<boolean> {
    const key = `${entry.subscriptionId}|${entry.jobId}`;
    const existing = this.dueEntries.get(key);
    if (!existing) return true;
    if (existing.etag !== entry.etag) return false;
    this.dueEntries.delete(key);
    return true;
  }
}

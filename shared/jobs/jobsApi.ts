import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { NO_SECRETS, type Secrets } from './secrets.js';
import { expandSpec } from './expansion.js';
import { parseInput } from '../domain/issues.js';
import {
  jobPrioritySchema,
  jobSpecSchema,
  nameSchema,
  specAsWritten,
  taskSchema,
  templateBodySchema,
  versionSchema,
  type JobSpec,
  type NotificationSpec,
  type SpecLimits,
} from '../domain/jobSpec.js';
import { isFinal, JOB_STATUSES, TASK_STATUSES } from '../domain/lifecycle.js';
import type { ComputeBackend, PoolInfo } from '../compute/compute.js';
import type { ExpandedJob } from '../domain/expand.js';
import type { Preset } from '../domain/presets.js';
import type { Caller } from '../identity.js';
import { webhookUrlProblem, type WebhookPolicy } from '../domain/webhooks.js';
import type { JobSignal } from '../orchestration/signals.js';
import { ownerSchema, requestedOwner } from '../identity.js';
import {
  JOB_LIST_SORTS,
  type HistoryEntry,
  type JobRecord,
  type JobStore,
  type Page,
  type TaskRecord,
  type TemplateRecord,
} from '../store/jobStore.js';
import { METRICS, type Telemetry } from '../telemetry.js';

/** What the jobs API needs besides the store. */
export interface JobsApiOptions {
  store: JobStore;
  limits: SpecLimits;
  defaultPool: string;
  defaultLogsContainer: string;
  /** Makes the subscriptions a job spec declares, once the job is stored. */
  registerNotifications?: (
    owner: string,
    jobId: string,
    notifications: readonly NotificationSpec[],
  ) => Promise<void>;
  /** Forgets a deleted job's subscriptions and deliveries. */
  forgetNotifications?: (owner: string, jobId: string) => Promise<void>;
  /** Whether this deployment can send email; a spec asking for email is refused if not. */
  emailConfigured?: boolean;
  /** Checks that the secrets a job's env names are its owner's. */
  secrets?: Pick<Secrets, 'check'>;
  /** Which webhook URLs a job spec's notifications may name. */
  webhooks?: WebhookPolicy;
  /** The deployment's resource presets, by name (`GET /presets`). */
  presets?: ReadonlyMap<string, Preset>;
  /** The pools, to check a job against: slots per node, and whether its pool exists. */
  pools?: Pick<ComputeBackend, 'getPool' | 'listPools'>;
  /**
   * The deployment's pools are all there are (`CLOUDJOBS_POOLS_FIXED`): a job naming another is
   * refused at submission instead of waiting BLOCKED for one to appear.
   */
  poolsFixed?: boolean;
  newId?: () => string;
  now?: () => Date;
  telemetry?: Telemetry;
}

const limitSchema = z.coerce.number().int().min(1).max(1000);

/** Query of `GET /jobs`. */
const instantSchema = z.iso.datetime({ offset: true });

export const listJobsQuerySchema = z
  .strictObject({
    status: z.enum(JOB_STATUSES).optional(),
    name: nameSchema.optional(),
    tag: z
      .string()
      .min(1)
      .max(64 + 1 + 256)
      .regex(/^[^=]{1,64}(=.{0,256})?$/s, 'must be a tag key, or key=value')
      .optional()
      .describe('only jobs with this tag: `key`, or `key=value` for that value'),
    createdAfter: instantSchema.optional().describe('only jobs submitted at or after this instant'),
    createdBefore: instantSchema.optional().describe('only jobs submitted before this instant'),
    sort: z
      .enum(JOB_LIST_SORTS)
      .default('submitted')
      .describe(
        '`submitted`: newest first. `priority`: highest priority first, then newest (reads every matching job’s key per page, so narrow big listings with a filter)',
      ),
    limit: limitSchema.default(50),
    continuation: z.string().max(4096).optional(),
    owner: ownerSchema.optional().describe('admins only: list this owner’s jobs'),
  })
  .refine(
    (query) =>
      !query.createdAfter ||
      !query.createdBefore ||
      Date.parse(query.createdAfter) < Date.parse(query.createdBefore),
    { path: ['createdBefore'], message: 'must be later than createdAfter' },
  );

/** `key` or `key=value` of a tag filter. */
const parseTagFilter = (tag: string): { key: string; value?: string } => {
  const eq = tag.indexOf('=');
  return eq === -1 ? { key: tag } : { key: tag.slice(0, eq), value: tag.slice(eq + 1) };
};

/** Body of `POST /jobs/{id}/tasks`: tasks for an open job, with the task schema of a spec. */
export const addTasksSchema = z.strictObject({ tasks: z.array(taskSchema).min(1).max(1000) });

/** Body of `PATCH /jobs/{id}`: what may change while a job runs. */
export const jobPatchSchema = z.strictObject({ priority: jobPrioritySchema });

/** Query of `GET /jobs/{id}/tasks`. */
export const listTasksQuerySchema = z.strictObject({
  state: z.enum(TASK_STATUSES).optional(),
  limit: limitSchema.default(100),
  continuation: z.string().max(4096).optional(),
});

/** Body of `PUT /templates/{name}/versions/{version}`. */
export const templatePutSchema = z.strictObject({
  description: z.string().max(4096).optional(),
  public: z.boolean().default(false).describe('whether every user may use this version'),
  spec: templateBodySchema,
});

/**
 * The jobs API's behaviour, apart from HTTP: submit, read and list jobs, their history and tasks,
 * and templates, each checked against the caller. Someone else's job is reported exactly as a
 * missing one, so ids cannot be probed.
 */
export class JobsApi {
  readonly #pools = new Map<string, { at: number; pool: PoolInfo | undefined }>();
  readonly #o: JobsApiOptions;
  readonly #newId: () => string;
  readonly #now: () => Date;

  constructor(options: JobsApiOptions) {
    this.#o = options;
    this.#newId = options.newId ?? (() => randomUUID());
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Validates, expands and stores a job (PENDING). `raw` is the request body, so a repeat with
   * the same Idempotency-Key can be told apart from a different request reusing it.
   */
  async submit(
    caller: Caller,
    body: unknown,
    raw: Buffer,
    idempotencyKey?: string,
    origin: { resubmittedFrom?: string } = {},
  ): Promise<{ job: JobRecord; created: boolean }> {
    const spec = parseInput(jobSpecSchema, body);
    const policy = this.#o.webhooks ?? { allowHttp: false, allowLoopback: false };
    const refused = (spec.notifications ?? []).flatMap((notification, i) => {
      const problem =
        'url' in notification && notification.url ? webhookUrlProblem(notification.url, policy) : undefined;
      return problem ? [{ path: `notifications[${i}].url`, message: problem }] : [];
    });
    const noEmail = (spec.notifications ?? []).flatMap((notification, i) =>
      'email' in notification && this.#o.emailConfigured === false
        ? [{ path: `notifications[${i}].email`, message: 'this deployment has no mail server configured' }]
        : [],
    );
    if (noEmail.length > 0) {
      throw new ValidationError(
        'email is not configured in this deployment',
        noEmail,
        'EMAIL_NOT_CONFIGURED',
      );
    }
    if (refused.length > 0) {
      throw new ValidationError(
        `the job spec is invalid: ${refused.length} problem${refused.length === 1 ? '' : 's'}`,
        refused,
        'WEBHOOK_URL_REFUSED',
      );
    }
    const id = this.#newId();
    const expanded = await expandSpec(this.#o, spec, id, caller.owner);
    await this.#checkPool(expanded, spec);
    await (this.#o.secrets ?? NO_SECRETS).check(caller.owner, expanded.secrets ?? []);
    const stored = await this.#o.store.createJob({
      id,
      owner: caller.owner,
      spec,
      name: expanded.name,
      ...(expanded.description !== undefined ? { description: expanded.description } : {}),
      ...(expanded.template ? { template: expanded.template } : {}),
      pool: expanded.pool,
      tags: expanded.tags,
      priority: expanded.priority,
      ...(origin.resubmittedFrom ? { resubmittedFrom: origin.resubmittedFrom } : {}),
      ...(expanded.completeWhenTasksFinish ? {} : { open: true }),
      taskCount: expanded.tasks.length,
      ...(idempotencyKey
        ? {
            idempotency: {
              key: idempotencyKey,
              requestDigest: createHash('sha256').update(raw).digest('hex'),
            },
          }
        : {}),
      at: this.#now().toISOString(),
    });
    // A replay (same Idempotency-Key) registers again: the first try may have died in between.
    if (this.#o.registerNotifications && expanded.notifications.length > 0) {
      await this.#o.registerNotifications(stored.job.owner, stored.job.id, expanded.notifications);
    }
    if (stored.created) {
      const telemetry = this.#o.telemetry;
      telemetry?.log(
        'information',
        `submitted: ${expanded.name}, ${expanded.tasks.length} task(s) on ${expanded.pool}`,
        {
          jobId: stored.job.id,
          owner: caller.owner,
          via: caller.via,
          pool: expanded.pool,
          taskCount: expanded.tasks.length,
        },
      );
      telemetry?.metric(METRICS.jobsSubmitted, 1, { via: caller.via });
    }
    return stored;
  }

  /**
   * The job's pool must exist when pools are fixed (the message says where the name came from),
   * and, when it exists, give a node the slots its largest task takes.
   */
  async #checkPool(job: ExpandedJob, spec: JobSpec): Promise<void> {
    const pools = this.#o.pools;
    if (!pools) return;
    let pool;
    try {
      pool = await this.#pool(job.pool, pools);
    } catch {
      // Batch is not answering: the job is taken, and waits BLOCKED later if its pool is wrong.
      return;
    }
    if (!pool) {
      if (!this.#o.poolsFixed) return;
      const names = (await pools.listPools()).map((p) => p.id);
      const whose = spec.preset
        ? ' (its preset names it)'
        : spec.pool
          ? ''
          : spec.template
            ? ' (its template names it)'
            : ' (the deployment default)';
      throw new ValidationError(
        'the job spec is invalid: 1 problem',
        [
          {
            path: spec.preset ? 'preset' : 'pool',
            message: `there is no pool "${job.pool}"${whose} in this deployment; its pools are ${names.join(', ') || 'none'}`,
          },
        ],
        'POOL_NOT_FOUND',
      );
    }
    const widest = job.tasks.reduce((most, task) => Math.max(most, task.slots ?? 1), 1);
    if (widest > pool.slotsPerNode) {
      const task = job.tasks.find((t) => (t.slots ?? 1) === widest)!;
      throw new ValidationError('the job spec is invalid: 1 problem', [
        {
          path: spec.preset && !spec.tasks?.some((t) => t.slots || t.preset) ? 'preset' : 'tasks',
          message: `task ${task.id} takes ${widest} slots, and a node of pool ${pool.id} has ${pool.slotsPerNode}`,
        },
      ]);
    }
  }

  /** A pool as Batch last described it, kept half a minute: submissions come in bursts. */
  async #pool(id: string, pools: Pick<ComputeBackend, 'getPool'>): Promise<PoolInfo | undefined> {
    const known = this.#pools.get(id);
    if (known && this.#now().getTime() - known.at < 30_000) return known.pool;
    const pool = await pools.getPool(id);
    if (this.#pools.size >= 100) this.#pools.clear();
    this.#pools.set(id, { at: this.#now().getTime(), pool });
    return pool;
  }

  /** A job the caller may see, or JOB_NOT_FOUND. */
  async job(caller: Caller, id: string): Promise<JobRecord> {
    const job = await this.#o.store.getJob(id);
    if (!job || (job.owner !== caller.owner && !caller.admin)) {
      throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    }
    return job;
  }

  /** A job with its spec and its live task counts (a listing shows those of its last change). */
  async jobWithSpec(caller: Caller, id: string): Promise<{ job: JobRecord; spec: JobSpec }> {
    const job = await this.job(caller, id);
    const [spec, counts] = await Promise.all([this.#o.store.getSpec(id), this.#o.store.taskCounts(id)]);
    return { job: counts ? { ...job, taskCounts: counts } : job, spec };
  }

  async list(caller: Caller, query: z.infer<typeof listJobsQuerySchema>): Promise<Page<JobRecord>> {
    return this.#o.store.listJobs(requestedOwner(caller, query.owner, 'list'), {
      limit: query.limit,
      sort: query.sort,
      ...(query.status ? { status: query.status } : {}),
      ...(query.name ? { name: query.name } : {}),
      ...(query.tag ? { tag: parseTagFilter(query.tag) } : {}),
      ...(query.createdAfter ? { createdAfter: query.createdAfter } : {}),
      ...(query.createdBefore ? { createdBefore: query.createdBefore } : {}),
      ...(query.continuation ? { continuation: query.continuation } : {}),
    });
  }

  async history(caller: Caller, id: string): Promise<HistoryEntry[]> {
    await this.job(caller, id);
    return this.#o.store.history(id);
  }

  async tasks(
    caller: Caller,
    id: string,
    query: z.infer<typeof listTasksQuerySchema>,
  ): Promise<Page<TaskRecord>> {
    await this.job(caller, id);
    return this.#o.store.listTasks(id, {
      limit: query.limit,
      ...(query.state ? { status: query.state } : {}),
      ...(query.continuation ? { continuation: query.continuation } : {}),
    });
  }

  /**
   * Forgets a job that has ended, with its history, tasks, spec, its own subscriptions and every
   * delivery of its events; a running job is a conflict.
   */
  /**
   * Forgets an ended job of the caller's. `remove` does the forgetting (the app's wiring passes
   * {@link JobCleanup.remove}, which takes the job's blobs, Batch job and orchestration history
   * with it); without one, only its records and notifications go.
   */
  async delete(caller: Caller, id: string, remove?: (job: JobRecord) => Promise<unknown>): Promise<void> {
    let job: JobRecord;
    try {
      job = await this.job(caller, id);
    } catch (error) {
      // A delete that failed once the job was gone left its deliveries behind: a retry ends them.
      if (error instanceof NotFoundError) await this.#o.forgetNotifications?.(caller.owner, id);
      throw error;
    }
    if (!isFinal(job.status)) {
      throw new ConflictError(
        `job ${id} is ${job.status}; cancel it and delete it once it has ended`,
        'JOB_NOT_FINISHED',
      );
    }
    if (remove) {
      await remove(job);
      return;
    }
    // The job first: a delivery woken meanwhile finds no job and sends nothing, where forgetting
    // its deliveries first would let that wake-up send the job's events again from the start.
    await this.#o.store.deleteJob(id);
    await this.#o.forgetNotifications?.(job.owner, id);
  }

  /**
   * Asks a job's orchestration to cancel, pause or resume it; the job changes status when the
   * orchestration has done it (watch its history). A job that has ended cannot change, and only
   * a paused job can be resumed.
   */
  async signal(
    caller: Caller,
    id: string,
    action: 'cancel' | 'pause' | 'resume' | 'complete',
    orchestrations: { raise: (jobId: string, signal: JobSignal) => Promise<void> },
  ): Promise<JobRecord> {
    const job = await this.job(caller, id);
    if (isFinal(job.status)) {
      throw new ConflictError(`job ${id} has ended (${job.status}); it cannot ${action}`, 'JOB_ENDED', {
        details: { status: job.status },
      });
    }
    if (action === 'resume' && job.status !== 'PAUSED') {
      throw new ConflictError(
        `job ${id} is ${job.status}, not PAUSED; only a paused job resumes`,
        'JOB_NOT_PAUSED',
        {
          details: { status: job.status },
        },
      );
    }
    // Closed first: an addition of tasks racing the completion is refused rather than lost.
    if (action === 'complete' && job.open) await this.#o.store.closeJob(id);
    await orchestrations.raise(id, { type: action, by: caller.owner });
    return job;
  }

  /**
   * Changes a job that has not ended. The priority is stored first, then set on the Batch job if
   * Batch has it yet; if not, the job is made with the stored one (see `JobRunner.ensureBatchJob`).
   */
  async update(
    caller: Caller,
    id: string,
    body: unknown,
    compute: Pick<ComputeBackend, 'setJobPriority'>,
  ): Promise<JobRecord> {
    const patch = parseInput(jobPatchSchema, body);
    const job = await this.job(caller, id);
    if (isFinal(job.status)) {
      throw new ConflictError(`job ${id} has ended (${job.status}); it cannot change`, 'JOB_ENDED', {
        details: { status: job.status },
      });
    }
    const updated = await this.#o.store.setPriority(id, patch.priority);
    await compute.setJobPriority(id, patch.priority);
    return updated;
  }

  /**
   * For the operations that need the job orchestration (cancel, pause, resume, logs, outputs):
   * the job is looked up as for any other call, then the caller is told plainly that this
   * deployment cannot do it yet, rather than being given a success that did nothing.
   */
  async unavailable(caller: Caller, id: string, what: string): Promise<never> {
    await this.job(caller, id);
    throw new AppError(
      'NOT_AVAILABLE_YET',
      `${what} needs the job orchestration, which this version does not run yet`,
      503,
      'none',
    );
  }

  async putTemplate(
    caller: Caller,
    name: string,
    version: string,
    body: unknown,
  ): Promise<{ template: TemplateRecord; created: boolean }> {
    const parsedName = parseInput(nameSchema, name, 'name');
    const parsedVersion = parseInput(versionSchema, version, 'version');
    const input = parseInput(templatePutSchema, body);
    return this.#o.store.putTemplate({
      name: parsedName,
      version: parsedVersion,
      owner: caller.owner,
      public: input.public,
      ...(input.description !== undefined ? { description: input.description } : {}),
      body: input.spec,
      createdAt: this.#now().toISOString(),
    });
  }

  async template(caller: Caller, name: string): Promise<{ name: string; versions: TemplateRecord[] }> {
    const versions = await this.#o.store.listTemplateVersions(name, caller.owner);
    if (versions.length === 0)
      throw new NotFoundError(`template ${name} does not exist`, 'TEMPLATE_NOT_FOUND');
    return { name, versions };
  }

  templates(caller: Caller): Promise<Array<{ name: string; owner: string; versions: string[] }>> {
    return this.#o.store.listTemplates(caller.owner);
  }
}

/** A job as the API shows it. */
export function jobView(job: JobRecord, spec?: JobSpec): Record<string, unknown> {
  const { etag: _etag, sequence: _sequence, resumeStatus: _resume, ...rest } = job;
  return {
    ...rest,
    links: {
      self: `/api/jobs/${job.id}`,
      history: `/api/jobs/${job.id}/history`,
      tasks: `/api/jobs/${job.id}/tasks`,
    },
    ...(spec ? { spec: specAsWritten(spec) } : {}),
  };
}

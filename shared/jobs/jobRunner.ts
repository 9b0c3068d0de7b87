import type { ContainerClient } from '@azure/storage-blob';
import type { ComputeBackend, ComputeJobSpec, ComputeTaskSpec, SubmitReport } from '../compute/compute.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { expandJob, type ExpandContext } from '../domain/expand.js';
import type { SpecLimits } from '../domain/jobSpec.js';
import { pendingOrQueued, type GraphTask } from '../domain/taskState.js';
import type { JobStore } from '../store/jobStore.js';
import { planBatchJob, type DataLocations } from './batchPlan.js';

/** Batch takes at most 100 tasks per call; a chunk is one submission activity's work. */
export const TASKS_PER_CHUNK = 100;

/** What preparing a job found: enough for the orchestration to plan its fan-out and its timers. */
export interface PreparedJob {
  taskCount: number;
  chunks: number;
  pool: string;
  timeoutMinutes?: number;
  completeWhenTasksFinish: boolean;
}

export interface JobRunnerOptions {
  store: JobStore;
  compute: ComputeBackend;
  /** Holds `<jobId>/plan/...` beside the job's spec and outputs. */
  jobs: ContainerClient;
  limits: SpecLimits;
  defaultPool: string;
  defaultLogsContainer: string;
  /** Storage URLs for Batch, valid until the given time. */
  locations: (expiresOn: Date) => Promise<DataLocations>;
  now?: () => Date;
}

// Without a job timeout, URLs handed to Batch must still outlive any plausible run and its retries.
const DEFAULT_URL_LIFETIME_MS = 30 * 24 * 60 * 60_000;

/**
 * The steps of running a job that touch storage and Batch, each safe to repeat (activities run at
 * least once): expand the stored spec and record its tasks, write the Batch plan in chunks, make
 * sure the Batch job exists, submit a chunk, and seal the job once every chunk is in.
 */
export class JobRunner {
  readonly #o: JobRunnerOptions;

  constructor(options: JobRunnerOptions) {
    this.#o = options;
  }

  /**
   * Expands the job again from its stored spec (the same pure expansion as at submission), records
   * its tasks (PENDING when they wait on others, QUEUED otherwise), and writes the Batch plan:
   * the job and one blob per chunk of at most 100 tasks, so submission activities stay small.
   */
  async prepare(jobId: string): Promise<PreparedJob> {
    const job = await this.#o.store.getJob(jobId);
    if (!job) throw new NotFoundError(`job ${jobId} does not exist`, 'JOB_NOT_FOUND');
    const spec = await this.#o.store.getSpec(jobId);
    let template: ExpandContext['template'];
    if (spec.template) {
      const found = await this.#o.store.getTemplate(spec.template.name, spec.template.version, job.owner);
      if (!found) {
        throw new ValidationError('the job’s template is gone', [
          {
            path: 'template',
            message: `no template ${spec.template.name}@${spec.template.version} that the owner can use`,
          },
        ]);
      }
      template = { ref: `${found.name}@${found.version}`, body: found.body };
    }
    const expanded = expandJob(spec, {
      jobId,
      owner: job.owner,
      inputDir: `blob://${this.#o.jobs.containerName}/${jobId}/inputs`,
      outputDir: `blob://${this.#o.jobs.containerName}/${jobId}/outputs`,
      defaultPool: this.#o.defaultPool,
      defaultLogsContainer: this.#o.defaultLogsContainer,
      limits: this.#o.limits,
      ...(template ? { template } : {}),
    });

    const graph: GraphTask[] = expanded.tasks;
    const byId = new Map(graph.map((task) => [task.id, task]));
    await this.#o.store.putTasks(
      jobId,
      expanded.tasks.map((task) => ({ id: task.id, status: pendingOrQueued(task, byId, new Map()) })),
    );

    const now = this.#o.now?.() ?? new Date();
    const lifetime =
      expanded.timeoutMinutes !== undefined
        ? expanded.timeoutMinutes * 60_000 * 2 + 24 * 60 * 60_000
        : DEFAULT_URL_LIFETIME_MS;
    const locations = await this.#o.locations(new Date(now.getTime() + lifetime));
    const plan = planBatchJob(jobId, expanded, locations, { jobsContainer: this.#o.jobs.containerName });
    await this.#writeJson(`${jobId}/plan/job.json`, plan.job);
    const chunks = Math.ceil(plan.tasks.length / TASKS_PER_CHUNK);
    let next = 0;
    const writer = async () => {
      while (next < chunks) {
        const index = next++;
        await this.#writeJson(
          chunkName(jobId, index),
          plan.tasks.slice(index * TASKS_PER_CHUNK, (index + 1) * TASKS_PER_CHUNK),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, chunks) }, writer));
    return {
      taskCount: expanded.tasks.length,
      chunks,
      pool: expanded.pool,
      ...(expanded.timeoutMinutes !== undefined ? { timeoutMinutes: expanded.timeoutMinutes } : {}),
      completeWhenTasksFinish: expanded.completeWhenTasksFinish,
    };
  }

  /** Creates the Batch job on its pool; an existing one is fine. BLOCKED errors pass through. */
  async ensureBatchJob(jobId: string): Promise<'created' | 'exists'> {
    return this.#o.compute.ensureJob(await this.#readJson<ComputeJobSpec>(`${jobId}/plan/job.json`));
  }

  /** Adds one chunk of tasks; repeating it adds nothing twice (TaskExists counts as done). */
  async submitChunk(jobId: string, index: number): Promise<SubmitReport> {
    return this.#o.compute.submitTasks(
      jobId,
      await this.#readJson<ComputeTaskSpec[]>(chunkName(jobId, index)),
    );
  }

  /** Lets the Batch job end once its tasks have: only after the last chunk is in. */
  sealBatchJob(jobId: string): Promise<void> {
    return this.#o.compute.sealJob(jobId);
  }

  async #writeJson(name: string, value: unknown): Promise<void> {
    const text = JSON.stringify(value);
    await this.#o.jobs.getBlockBlobClient(name).upload(text, Buffer.byteLength(text), {
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
  }

  async #readJson<T>(name: string): Promise<T> {
    const buffer = await this.#o.jobs.getBlobClient(name).downloadToBuffer();
    return JSON.parse(buffer.toString('utf8')) as T;
  }
}

function chunkName(jobId: string, index: number): string {
  return `${jobId}/plan/chunk-${String(index).padStart(6, '0')}.json`;
}

import { BatchServiceClient, BatchSharedKeyCredentials, type BatchServiceModels } from '@azure/batch';
import type { TokenCredential } from '@azure/identity';
import type {
  ComputeBackend,
  ComputeJobSpec,
  ComputeJobState,
  ComputeTaskSpec,
  ComputeTaskState,
  PoolInfo,
  PoolSpec,
  SubmitReport,
  TaskCounts,
  TaskPage,
} from '../compute/compute.js';
import {
  AppError,
  BlockedError,
  ConflictError,
  DependencyError,
  NotFoundError,
  TransientError,
} from '../errors.js';
import { isoDuration } from '../compute/dependencies.js';
import { mapBatchError } from './azureBatchErrors.js';
import { chunkTasks, poolInfo, taskState, toBatchTask } from './azureBatchModels.js';

/** How the adapter authenticates: an account key, or a Microsoft Entra token (managed identity). */
export type BatchCredentials =
  | { kind: 'sharedKey'; accountName: string; accountKey: string }
  | { kind: 'entra'; credential: TokenCredential };

export interface AzureBatchOptions {
  /** The account endpoint, e.g. `https://myaccount.westeurope.batch.azure.com`. */
  accountUrl: string;
  credentials: BatchCredentials;
  /** `addTaskCollection` calls in flight at once. */
  submitConcurrency?: number;
  /** Attempts at one request before a retryable failure is given up on. */
  maxAttempts?: number;
  /** First backoff delay; doubles each attempt, with jitter, up to 30 s. */
  baseDelayMs?: number;
}

const BATCH_SCOPE = 'https://batch.core.windows.net/.default';
/** Batch takes at most 100 tasks per addTaskCollection call and a body under 1 MB. */

type WebResourceLike = Parameters<BatchSharedKeyCredentials['signRequest']>[0];

/** Signs Batch requests with Microsoft Entra tokens, refreshing them before they expire. */
class EntraCredentials {
  #token: { token: string; expiresOnTimestamp: number } | undefined;

  constructor(private readonly credential: TokenCredential) {}

  async signRequest(webResource: WebResourceLike): Promise<WebResourceLike> {
    if (!this.#token || this.#token.expiresOnTimestamp - Date.now() < 5 * 60_000) {
      const token = await this.credential.getToken(BATCH_SCOPE);
      if (!token)
        throw new DependencyError(
          'BATCH_AUTH_FAILED',
          'no Microsoft Entra token for Azure Batch could be obtained',
        );
      this.#token = token;
    }
    webResource.headers.set('authorization', `Bearer ${this.#token.token}`);
    return webResource;
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });

/**
 * Azure Batch through `@azure/batch`: the only code in cloudjobs that talks to Batch. The same
 * code runs against Azure and against the local Batch service; only the URL and credentials differ.
 */
export class AzureBatch implements ComputeBackend {
  readonly #client: BatchServiceClient;
  readonly #concurrency: number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;

  constructor(options: AzureBatchOptions) {
    const credentials =
      options.credentials.kind === 'sharedKey'
        ? new BatchSharedKeyCredentials(options.credentials.accountName, options.credentials.accountKey)
        : new EntraCredentials(options.credentials.credential);
    // Retries are the adapter's own (below): it knows which requests are safe to repeat and
    // honours Retry-After; the client's built-in policies would retry again underneath.
    this.#client = new BatchServiceClient(credentials, options.accountUrl.replace(/\/+$/, ''), {
      noRetryPolicy: true,
    });
    this.#concurrency = options.submitConcurrency ?? 16;
    this.#maxAttempts = options.maxAttempts ?? 8;
    this.#baseDelayMs = options.baseDelayMs ?? 250;
  }

  #delay(attempt: number, error: AppError): number {
    if (error.retryAfterMs !== undefined) return error.retryAfterMs;
    const exponential = Math.min(30_000, this.#baseDelayMs * 2 ** attempt);
    return exponential / 2 + Math.random() * (exponential / 2);
  }

  /** Runs a request, retrying throttling and passing faults with backoff. */
  async #call<T>(what: string, request: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await request();
      } catch (raw) {
        const error = mapBatchError(raw, what);
        const retryable = error.code === 'BATCH_THROTTLED' || error.retry === 'backoff';
        if (!retryable || attempt + 1 >= this.#maxAttempts || signal?.aborted) throw error;
        await sleep(this.#delay(attempt, error), signal);
      }
    }
  }

  async ensureJob(spec: ComputeJobSpec): Promise<'created' | 'exists'> {
    // Batch accepts a job for a pool that does not exist and leaves it waiting; checking first
    // lets the caller report the missing pool (BLOCKED) instead.
    const pool = await this.getPool(spec.poolId);
    if (!pool) throw new BlockedError('BATCH_POOL_NOT_FOUND', `pool ${spec.poolId} does not exist`);
    try {
      await this.#call(`create job ${spec.id}`, () =>
        this.#client.job.add({
          id: spec.id,
          poolInfo: { poolId: spec.poolId },
          ...(spec.displayName ? { displayName: spec.displayName } : {}),
          ...(spec.priority !== undefined ? { priority: spec.priority } : {}),
          // A job with no tasks yet counts as complete, so it is told to end with its tasks only
          // once they are all added (sealJob).
          onAllTasksComplete: 'noaction',
          usesTaskDependencies: true,
          constraints: {
            ...(spec.maxWallClockMs !== undefined
              ? { maxWallClockTime: isoDuration(spec.maxWallClockMs) }
              : {}),
            ...(spec.maxTaskRetries !== undefined ? { maxTaskRetryCount: spec.maxTaskRetries } : {}),
          },
          ...(spec.metadata
            ? { metadata: Object.entries(spec.metadata).map(([name, value]) => ({ name, value })) }
            : {}),
        }),
      );
      return 'created';
    } catch (error) {
      if (error instanceof ConflictError && error.code === 'BATCH_JOB_EXISTS') return 'exists';
      throw error;
    }
  }

  async submitTasks(
    jobId: string,
    tasks: ComputeTaskSpec[],
    options: { signal?: AbortSignal } = {},
  ): Promise<SubmitReport> {
    const report: SubmitReport = { added: 0, existing: 0, rejected: [], requests: 0 };
    const queue = chunkTasks(tasks.map(toBatchTask)).map((chunk) => ({ chunk, attempt: 0 }));
    const signal = options.signal;

    const submit = async (item: {
      chunk: BatchServiceModels.TaskAddParameter[];
      attempt: number;
    }): Promise<void> => {
      report.requests++;
      let results: BatchServiceModels.TaskAddResult[];
      try {
        const response = await this.#client.task.addCollection(jobId, item.chunk);
        results = response.value ?? [];
      } catch (raw) {
        const error = mapBatchError(raw, `add tasks to job ${jobId}`);
        if (error.code === 'BATCH_REQUEST_TOO_LARGE' && item.chunk.length > 1) {
          const half = Math.ceil(item.chunk.length / 2);
          queue.push(
            { chunk: item.chunk.slice(0, half), attempt: item.attempt },
            { chunk: item.chunk.slice(half), attempt: item.attempt },
          );
          return;
        }
        const retryable = error.code === 'BATCH_THROTTLED' || error.retry === 'backoff';
        if (!retryable || item.attempt + 1 >= this.#maxAttempts) throw error;
        await sleep(this.#delay(item.attempt, error), signal);
        queue.push({ chunk: item.chunk, attempt: item.attempt + 1 });
        return;
      }
      const byId = new Map(item.chunk.map((t) => [t.id, t]));
      const again: BatchServiceModels.TaskAddParameter[] = [];
      for (const result of results) {
        if (result.status === 'success') {
          report.added++;
        } else if (result.error?.code === 'TaskExists') {
          // Added by an earlier attempt whose answer was lost, or an earlier submission.
          report.existing++;
        } else if (result.status === 'servererror') {
          const task = byId.get(result.taskId);
          if (task) again.push(task);
        } else {
          report.rejected.push({
            taskId: result.taskId,
            code: result.error?.code ?? 'Unknown',
            message: result.error?.message?.value?.split('\nRequestId:')[0] ?? 'rejected by Batch',
          });
        }
      }
      if (again.length > 0) {
        if (item.attempt + 1 >= this.#maxAttempts) {
          throw new TransientError(
            'BATCH_UNAVAILABLE',
            `Batch kept failing to add ${again.length} task(s) to job ${jobId}`,
          );
        }
        await sleep(
          this.#delay(item.attempt, new TransientError('BATCH_UNAVAILABLE', 'server error')),
          signal,
        );
        queue.push({ chunk: again, attempt: item.attempt + 1 });
      }
    };

    // A bounded pool of calls in flight; chunks requeued for a retry are taken by the next free slot.
    let failure: Error | undefined;
    await new Promise<void>((resolve) => {
      let inFlight = 0;
      const pump = () => {
        while (failure === undefined && inFlight < this.#concurrency && queue.length > 0) {
          const item = queue.shift()!;
          inFlight++;
          submit(item)
            .catch((error: unknown) => {
              failure ??= error instanceof Error ? error : new Error(String(error));
            })
            .finally(() => {
              inFlight--;
              if (inFlight === 0 && (queue.length === 0 || failure !== undefined)) resolve();
              else pump();
            });
        }
      };
      if (queue.length === 0) resolve();
      else pump();
    });
    if (failure !== undefined) throw failure;
    return report;
  }

  async sealJob(jobId: string): Promise<void> {
    await this.#call(`seal job ${jobId}`, () =>
      this.#client.job.patch(jobId, { onAllTasksComplete: 'terminatejob' }),
    );
  }

  async getJob(jobId: string): Promise<ComputeJobState | undefined> {
    try {
      const job = await this.#call(`get job ${jobId}`, () => this.#client.job.get(jobId));
      return {
        id: job.id ?? jobId,
        poolId: job.poolInfo?.poolId ?? job.executionInfo?.poolId ?? '',
        state: job.state ?? 'active',
        endsWhenTasksComplete: job.onAllTasksComplete === 'terminatejob',
        ...(job.creationTime ? { creationTime: new Date(job.creationTime) } : {}),
        ...(job.executionInfo?.endTime ? { endTime: new Date(job.executionInfo.endTime) } : {}),
        ...(job.executionInfo?.terminateReason ? { terminateReason: job.executionInfo.terminateReason } : {}),
      };
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  async taskCounts(jobId: string): Promise<TaskCounts> {
    const response = await this.#call(`count tasks of job ${jobId}`, () =>
      this.#client.job.getTaskCounts(jobId),
    );
    const counts = response.taskCounts;
    return {
      active: counts.active,
      running: counts.running,
      completed: counts.completed,
      succeeded: counts.succeeded,
      failed: counts.failed,
    };
  }

  async listTasks(
    jobId: string,
    options: { state?: ComputeTaskState['state']; pageSize?: number; continuation?: string } = {},
  ): Promise<TaskPage> {
    const page = options.continuation
      ? await this.#call(`list tasks of job ${jobId}`, () =>
          this.#client.task.listNext(options.continuation!),
        )
      : await this.#call(`list tasks of job ${jobId}`, () =>
          this.#client.task.list(jobId, {
            taskListOptions: {
              ...(options.state ? { filter: `state eq '${options.state}'` } : {}),
              select: 'id,state,executionInfo',
              maxResults: Math.min(1000, options.pageSize ?? 1000),
            },
          }),
        );
    return {
      tasks: page.map(taskState),
      ...(page.odatanextLink ? { continuation: page.odatanextLink } : {}),
    };
  }

  async getTask(jobId: string, taskId: string): Promise<ComputeTaskState | undefined> {
    try {
      return taskState(await this.#call(`get task ${taskId}`, () => this.#client.task.get(jobId, taskId)));
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  async readTaskFile(
    jobId: string,
    taskId: string,
    file: string,
    from: number,
    signal?: AbortSignal,
  ): Promise<NodeJS.ReadableStream | undefined> {
    try {
      const response = await this.#call(`read ${file} of task ${taskId}`, () =>
        this.#client.file.getFromTask(jobId, taskId, file, {
          fileGetFromTaskOptions: { ocpRange: `bytes=${from}-` },
          // The SDK's own AbortSignalLike: the DOM type differs only in `this` typing.
          ...(signal
            ? {
                abortSignal:
                  signal as unknown as BatchServiceModels.FileGetFromTaskOptionalParams['abortSignal'],
              }
            : {}),
        }),
      );
      return response.readableStreamBody;
    } catch (error) {
      // A task not started, or whose node is gone, has no files: not an error to the reader.
      if (error instanceof NotFoundError || (error instanceof AppError && error.status === 409))
        return undefined;
      throw error;
    }
  }

  async terminateJob(jobId: string, reason?: string): Promise<void> {
    try {
      await this.#call(`terminate job ${jobId}`, () =>
        this.#client.job.terminate(
          jobId,
          reason ? { jobTerminateOptions: {}, terminateReason: reason } : undefined,
        ),
      );
    } catch (error) {
      // Already over is what terminating asks for.
      if (error instanceof ConflictError && error.code === 'BATCH_JOB_COMPLETED') return;
      throw error;
    }
  }

  async disableJob(jobId: string): Promise<void> {
    await this.#call(`disable job ${jobId}`, () => this.#client.job.disable(jobId, 'requeue'));
  }

  async enableJob(jobId: string): Promise<void> {
    await this.#call(`enable job ${jobId}`, () => this.#client.job.enable(jobId));
  }

  async deleteJob(jobId: string): Promise<void> {
    try {
      await this.#call(`delete job ${jobId}`, () => this.#client.job.deleteMethod(jobId));
    } catch (error) {
      if (error instanceof NotFoundError) return;
      throw error;
    }
  }

  async terminateTask(jobId: string, taskId: string): Promise<boolean> {
    try {
      await this.#call(`terminate task ${taskId}`, () => this.#client.task.terminate(jobId, taskId));
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      // Already over, with the task or with its job: what terminating asks for.
      if (
        error instanceof ConflictError &&
        (error.code === 'BATCH_TASK_COMPLETED' || error.code === 'BATCH_JOB_COMPLETED')
      )
        return true;
      throw error;
    }
  }

  async setJobPriority(jobId: string, priority: number): Promise<boolean> {
    try {
      await this.#call(`set the priority of job ${jobId}`, () => this.#client.job.patch(jobId, { priority }));
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }

  async listPools(): Promise<PoolInfo[]> {
    const pools: PoolInfo[] = [];
    let page = await this.#call('list pools', () => this.#client.pool.list());
    pools.push(...page.map(poolInfo));
    while (page.odatanextLink) {
      const next = page.odatanextLink;
      page = await this.#call('list pools', () => this.#client.pool.listNext(next));
      pools.push(...page.map(poolInfo));
    }
    return pools;
  }

  async ping(signal: AbortSignal): Promise<void> {
    // The client's abort type predates the DOM AbortSignal, so the wait, not the request, is cut.
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(new Error('timed out'));
      signal.addEventListener('abort', () => reject(new Error('timed out')), { once: true });
    });
    try {
      await Promise.race([this.#client.pool.list({ poolListOptions: { maxResults: 1 } }), aborted]);
    } catch (error) {
      throw mapBatchError(error, 'list pools');
    }
  }

  async getPool(poolId: string): Promise<PoolInfo | undefined> {
    try {
      return poolInfo(await this.#call(`get pool ${poolId}`, () => this.#client.pool.get(poolId)));
    } catch (error) {
      if (error instanceof BlockedError && error.code === 'BATCH_POOL_NOT_FOUND') return undefined;
      throw error;
    }
  }

  async createPool(spec: PoolSpec): Promise<void> {
    await this.#call(`create pool ${spec.id}`, () =>
      this.#client.pool.add({
        id: spec.id,
        vmSize: spec.vmSize,
        targetDedicatedNodes: spec.dedicatedNodes,
        ...(spec.lowPriorityNodes !== undefined ? { targetLowPriorityNodes: spec.lowPriorityNodes } : {}),
        ...(spec.slotsPerNode !== undefined ? { taskSlotsPerNode: spec.slotsPerNode } : {}),
        ...(spec.displayName ? { displayName: spec.displayName } : {}),
        ...(spec.virtualMachineConfiguration
          ? {
              virtualMachineConfiguration:
                spec.virtualMachineConfiguration as unknown as BatchServiceModels.VirtualMachineConfiguration,
            }
          : {}),
      }),
    );
  }

  async resizePool(poolId: string, dedicatedNodes: number, lowPriorityNodes?: number): Promise<void> {
    await this.#call(`resize pool ${poolId}`, () =>
      this.#client.pool.resize(poolId, {
        targetDedicatedNodes: dedicatedNodes,
        ...(lowPriorityNodes !== undefined ? { targetLowPriorityNodes: lowPriorityNodes } : {}),
      }),
    );
  }

  async deletePool(poolId: string): Promise<void> {
    await this.#call(`delete pool ${poolId}`, () => this.#client.pool.deleteMethod(poolId));
  }
}

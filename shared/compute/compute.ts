/**
 * The compute backend as the orchestration sees it: jobs of command-line tasks on pools. Azure
 * Batch implements it (`shared/adapters/azureBatch.ts`, the only code that talks to Batch); tests
 * of callers use hand-written fakes.
 */

/** Where a task's files come from: a blob container (all blobs under a prefix) or one URL. */
export type ResourceSource =
  { containerUrl: string; prefix?: string; identity?: string } | { url: string; identity?: string };

export interface ResourceFileSpec {
  source: ResourceSource;
  /** Path under the task's working directory: a directory for containers, a file for URLs. */
  target?: string;
}

/** A blob container destination; without a SAS in the URL, `identity` (a managed identity resource id) grants access. */
export interface BlobDestination {
  containerUrl: string;
  /** Blob name (a single file) or virtual directory (a pattern) inside the container. */
  path?: string;
  identity?: string;
}

export interface OutputFileSpec {
  /** Relative to the task's working directory; `*`, `**` and `?` allowed. */
  pattern: string;
  destination: BlobDestination;
  when: 'success' | 'failure' | 'completion';
}

export interface ComputeTaskSpec {
  id: string;
  commandLine: string;
  displayName?: string;
  environment?: Record<string, string>;
  /** Run in this container image (the pool must support containers). */
  image?: string;
  resourceFiles?: ResourceFileSpec[];
  outputs?: OutputFileSpec[];
  /** stdout.txt and stderr.txt go under this blob directory when the task ends, however it ends. */
  logs?: BlobDestination;
  dependsOn?: string[];
  /** If this task fails, its dependents still run. */
  runDependentsOnFailure?: boolean;
  /** Exit codes whose effect on dependents differs from the task's default (Batch exitCodes). */
  exitCodeActions?: Array<{ code: number; dependencyAction: 'satisfy' | 'block' }>;
  maxRetries?: number;
  maxWallClockMs?: number;
  requiredSlots?: number;
}

export interface ComputeJobSpec {
  id: string;
  poolId: string;
  displayName?: string;
  priority?: number;
  maxWallClockMs?: number;
  /** Default retries for tasks that do not say. */
  maxTaskRetries?: number;
  metadata?: Record<string, string>;
}

export type ComputeJobStateName =
  'active' | 'disabling' | 'disabled' | 'enabling' | 'terminating' | 'completed' | 'deleting';

export interface ComputeJobState {
  id: string;
  poolId: string;
  state: ComputeJobStateName;
  /** Whether the job ends by itself once every task has completed. */
  endsWhenTasksComplete: boolean;
  creationTime?: Date;
  endTime?: Date;
  terminateReason?: string;
}

export type ComputeTaskStateName = 'active' | 'preparing' | 'running' | 'completed';

export interface ComputeTaskState {
  id: string;
  state: ComputeTaskStateName;
  exitCode?: number;
  result?: 'success' | 'failure';
  failure?: { category: string; code: string; message: string };
  startTime?: Date;
  endTime?: Date;
  retryCount: number;
  requeueCount: number;
}

export interface TaskCounts {
  active: number;
  running: number;
  completed: number;
  succeeded: number;
  failed: number;
}

export interface SubmitReport {
  /** Tasks added by this submission. */
  added: number;
  /** Tasks that were already there (an earlier, interrupted submission added them). */
  existing: number;
  /** Tasks Batch refused, with its reason; the rest of the submission went on. */
  rejected: Array<{ taskId: string; code: string; message: string }>;
  /** Requests made, including retries. */
  requests: number;
}

export interface PoolInfo {
  id: string;
  vmSize: string;
  state: 'active' | 'deleting';
  allocationState: 'steady' | 'resizing' | 'stopping';
  dedicatedNodes: number;
  targetDedicatedNodes: number;
  lowPriorityNodes: number;
  targetLowPriorityNodes: number;
  slotsPerNode: number;
  /** Why the pool last failed to reach its target (no capacity, quota reached); none when it did. */
  resizeErrors: Array<{ code: string; message: string }>;
  creationTime?: Date;
}

export interface PoolSpec {
  id: string;
  vmSize: string;
  dedicatedNodes: number;
  lowPriorityNodes?: number;
  slotsPerNode?: number;
  displayName?: string;
  /** Batch's virtualMachineConfiguration, passed as given (image, node agent, containers). */
  virtualMachineConfiguration?: Record<string, unknown>;
}

export interface TaskPage {
  tasks: ComputeTaskState[];
  /** Pass back to get the next page; absent on the last page. */
  continuation?: string;
}

export interface ComputeBackend {
  /** Creates the job on its pool; an existing job with the same id counts as done. */
  ensureJob(spec: ComputeJobSpec): Promise<'created' | 'exists'>;
  /** Adds tasks in bounded, parallel chunks; safe to repeat after an interruption. */
  submitTasks(
    jobId: string,
    tasks: ComputeTaskSpec[],
    options?: { signal?: AbortSignal },
  ): Promise<SubmitReport>;
  /** Marks the job complete once its last task is: call after the last task is added. */
  sealJob(jobId: string): Promise<void>;
  getJob(jobId: string): Promise<ComputeJobState | undefined>;
  taskCounts(jobId: string): Promise<TaskCounts>;
  listTasks(
    jobId: string,
    options?: { state?: ComputeTaskStateName; pageSize?: number; continuation?: string },
  ): Promise<TaskPage>;
  getTask(jobId: string, taskId: string): Promise<ComputeTaskState | undefined>;
  /**
   * A file of a task's directory on its node (`stdout.txt`, `stderr.txt`), from byte `from` to its
   * end as it is now; undefined when the node has no such file (not started, or cleaned up).
   */
  readTaskFile(
    jobId: string,
    taskId: string,
    file: string,
    from: number,
    signal?: AbortSignal,
  ): Promise<NodeJS.ReadableStream | undefined>;
  terminateJob(jobId: string, reason?: string): Promise<void>;
  /** Holds the job: running tasks are requeued, none start until {@link enableJob}. */
  disableJob(jobId: string): Promise<void>;
  enableJob(jobId: string): Promise<void>;
  deleteJob(jobId: string): Promise<void>;
  /**
   * Stops one task: a running one is killed, a waiting one never starts; either way it completes
   * with Batch's `TaskEnded` failure, and its dependents are then treated as after any failure.
   * A task that has already completed is left as it ended. False when Batch has no such task (yet).
   */
  terminateTask(jobId: string, taskId: string): Promise<boolean>;
  /** Changes a job's priority; false when Batch has no such job (yet). */
  setJobPriority(jobId: string, priority: number): Promise<boolean>;
  listPools(): Promise<PoolInfo[]>;
  /** One cheap, unretried request that proves the account answers with our credentials. */
  ping(signal: AbortSignal): Promise<void>;
  getPool(poolId: string): Promise<PoolInfo | undefined>;
  createPool(spec: PoolSpec): Promise<void>;
  resizePool(poolId: string, dedicatedNodes: number, lowPriorityNodes?: number): Promise<void>;
  deletePool(poolId: string): Promise<void>;
}

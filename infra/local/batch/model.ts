import { z } from 'zod';
import { parseDuration } from '../util/timespan.js';
import { BatchServiceError, invalidProperty, missingProperty } from './errors.js';

// Batch ids: letters, digits, hyphens and underscores, at most 64, case-insensitive.
const BATCH_ID = /^[A-Za-z0-9_-]{1,64}$/;
const duration = z.string().refine((value) => {
  try {
    parseDuration(value);
    return true;
  } catch {
    return false;
  }
}, 'must be an ISO 8601 duration');

const environmentSetting = z.object({ name: z.string().min(1), value: z.string().optional() });

const resourceFile = z.looseObject({
  autoStorageContainerName: z.string().optional(),
  storageContainerUrl: z.string().optional(),
  httpUrl: z.string().optional(),
  blobPrefix: z.string().optional(),
  filePath: z.string().optional(),
  fileMode: z.string().optional(),
  identityReference: z.looseObject({ resourceId: z.string().optional() }).optional(),
});

const outputFile = z.looseObject({
  filePattern: z.string().min(1),
  destination: z.looseObject({
    container: z.looseObject({
      path: z.string().optional(),
      containerUrl: z.string().min(1),
      identityReference: z.looseObject({ resourceId: z.string().optional() }).optional(),
      uploadHeaders: z.array(z.object({ name: z.string(), value: z.string().optional() })).optional(),
    }),
  }),
  uploadOptions: z.looseObject({ uploadCondition: z.enum(['tasksuccess', 'taskfailure', 'taskcompletion']) }),
});

/**
 * A Batch property this service does not emulate: refused with a clear reason rather than ignored,
 * so that nothing runs differently from how it would on Batch without saying so.
 */
const unsupported = (what: string) =>
  z.undefined({ error: `the local Batch service does not support ${what}` }).optional();

const exitOptions = z.looseObject({
  jobAction: z
    .enum(['none'], { error: 'the local Batch service does not support job actions on exit' })
    .optional(),
  dependencyAction: z.enum(['satisfy', 'block']).optional(),
});

export const taskAddSchema = z.looseObject({
  id: z.string(),
  displayName: z.string().max(1024).optional(),
  commandLine: z.string(),
  containerSettings: z
    .looseObject({
      imageName: z.string().min(1),
      containerRunOptions: z.string().optional(),
      workingDirectory: z.enum(['taskWorkingDirectory', 'containerImageDefault']).optional(),
    })
    .optional(),
  exitConditions: z
    .looseObject({
      exitCodes: z.array(z.object({ code: z.number().int(), exitOptions })).optional(),
      exitCodeRanges: z
        .array(z.object({ start: z.number().int(), end: z.number().int(), exitOptions }))
        .optional(),
      preProcessingError: exitOptions.optional(),
      fileUploadError: exitOptions.optional(),
      default: exitOptions.optional(),
    })
    .optional(),
  resourceFiles: z.array(resourceFile).optional(),
  outputFiles: z.array(outputFile).optional(),
  environmentSettings: z.array(environmentSetting).optional(),
  constraints: z
    .looseObject({
      maxWallClockTime: duration.optional(),
      retentionTime: duration.optional(),
      maxTaskRetryCount: z.number().int().min(-1).optional(),
    })
    .optional(),
  requiredSlots: z.number().int().min(1).optional(),
  multiInstanceSettings: unsupported('multi-instance (MPI) tasks'),
  applicationPackageReferences: unsupported('application packages'),
  dependsOn: z
    .looseObject({
      taskIds: z.array(z.string()).optional(),
      taskIdRanges: z
        .array(z.object({ start: z.number().int().min(0), end: z.number().int().min(0) }))
        .optional(),
    })
    .optional(),
});

export type TaskAddParameter = z.infer<typeof taskAddSchema>;

const jobPriority = z.number().int().min(-1000).max(1000).optional();
const jobConstraints = z
  .looseObject({
    maxWallClockTime: duration.optional(),
    maxTaskRetryCount: z.number().int().min(-1).optional(),
  })
  .optional();
const metadata = z.array(z.object({ name: z.string(), value: z.string() })).optional();

export const jobAddSchema = z.looseObject({
  id: z.string(),
  displayName: z.string().optional(),
  priority: jobPriority,
  constraints: jobConstraints,
  poolInfo: z.looseObject({
    poolId: z.string().optional(),
    autoPoolSpecification: unsupported('auto pools: create the pool, then the job'),
  }),
  onAllTasksComplete: z.enum(['noaction', 'terminatejob']).optional(),
  onTaskFailure: z
    .enum(['noaction'], { error: 'the local Batch service does not support job actions on task failure' })
    .optional(),
  jobManagerTask: unsupported('job manager tasks'),
  jobPreparationTask: unsupported('job preparation tasks'),
  jobReleaseTask: unsupported('job release tasks'),
  networkConfiguration: unsupported('job network configuration'),
  usesTaskDependencies: z.boolean().optional(),
  commonEnvironmentSettings: z.array(environmentSetting).optional(),
  metadata,
});

export type JobAddParameter = z.infer<typeof jobAddSchema>;

export const jobPatchSchema = z.looseObject({
  priority: jobPriority,
  constraints: jobConstraints,
  onAllTasksComplete: z.enum(['noaction', 'terminatejob']).optional(),
  metadata,
});

export const poolAddSchema = z.looseObject({
  id: z.string(),
  displayName: z.string().optional(),
  vmSize: z.string().min(1),
  targetDedicatedNodes: z.number().int().min(0).optional(),
  targetLowPriorityNodes: z.number().int().min(0).optional(),
  taskSlotsPerNode: z.number().int().min(1).max(256).optional(),
  enableAutoScale: z
    .literal(false, { error: 'the local Batch service does not support autoscale' })
    .optional(),
  startTask: unsupported('start tasks'),
  applicationPackageReferences: unsupported('application packages'),
  certificateReferences: unsupported('certificates'),
  resizeTimeout: duration.optional(),
  virtualMachineConfiguration: z.unknown().optional(),
  metadata,
});

export type PoolAddParameter = z.infer<typeof poolAddSchema>;

export const poolResizeSchema = z.looseObject({
  targetDedicatedNodes: z.number().int().min(0).optional(),
  targetLowPriorityNodes: z.number().int().min(0).optional(),
  resizeTimeout: duration.optional(),
  nodeDeallocationOption: z.enum(['requeue', 'terminate', 'taskcompletion', 'retaineddata']).optional(),
});

export const jobDisableSchema = z.looseObject({ disableTasks: z.enum(['requeue', 'terminate', 'wait']) });
export const jobTerminateSchema = z
  .looseObject({ terminateReason: z.string().max(64).optional() })
  .optional();

/** Parses a request body against a schema, answering as Batch does about the first bad property. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const property = issue.path.join('.') || '(body)';
  // Zod leaves the offending input out of its issues, so look it up to tell missing from wrong.
  const value = issue.path.reduce<unknown>(
    (node, key) =>
      node !== null && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined,
    body,
  );
  if (issue.code === 'invalid_type' && value === undefined) throw missingProperty(property);
  throw invalidProperty(property, issue.message);
}

export function checkId(kind: 'job' | 'task' | 'pool', id: string): void {
  if (!BATCH_ID.test(id)) {
    throw invalidProperty('id', `the ${kind} id must be 1-64 letters, digits, hyphens or underscores`);
  }
}

export type PoolStateName = 'active' | 'deleting';
export type AllocationState = 'steady' | 'resizing' | 'stopping';
export type JobStateName =
  'active' | 'disabling' | 'disabled' | 'enabling' | 'terminating' | 'completed' | 'deleting';
export type TaskStateName = 'active' | 'preparing' | 'running' | 'completed';

export interface FailureInfo {
  category: 'usererror' | 'servererror';
  code: string;
  message: string;
  details?: Array<{ name: string; value: string }>;
}

/** A pool as the service keeps it: a number of task slots. */
export interface PoolRecord {
  id: string;
  displayName?: string;
  vmSize: string;
  state: PoolStateName;
  allocationState: AllocationState;
  targetDedicatedNodes: number;
  currentDedicatedNodes: number;
  targetLowPriorityNodes: number;
  currentLowPriorityNodes: number;
  taskSlotsPerNode: number;
  creationTime: string;
  lastModified: string;
  stateTransitionTime: string;
  allocationStateTransitionTime: string;
  eTag: string;
  extra: Record<string, unknown>;
}

export interface JobRecord {
  id: string;
  displayName?: string;
  poolId: string;
  priority: number;
  state: JobStateName;
  previousState?: JobStateName;
  creationTime: string;
  lastModified: string;
  stateTransitionTime: string;
  previousStateTransitionTime?: string;
  onAllTasksComplete: 'noaction' | 'terminatejob';
  onTaskFailure: 'noaction' | 'performexitoptionsjobaction';
  usesTaskDependencies: boolean;
  maxWallClockTime?: string;
  maxTaskRetryCount: number;
  commonEnvironmentSettings: Array<{ name: string; value?: string }>;
  metadata?: Array<{ name: string; value: string }>;
  startTime: string;
  endTime?: string;
  terminateReason?: string;
  eTag: string;
}

export interface TaskExecution {
  startTime?: string;
  endTime?: string;
  exitCode?: number;
  failureInfo?: FailureInfo;
  retryCount: number;
  lastRetryTime?: string;
  requeueCount: number;
  lastRequeueTime?: string;
  result?: 'success' | 'failure';
}

export interface TaskRecord {
  spec: TaskAddParameter;
  state: TaskStateName;
  previousState?: TaskStateName;
  creationTime: string;
  lastModified: string;
  stateTransitionTime: string;
  previousStateTransitionTime?: string;
  eTag: string;
  executionInfo: TaskExecution;
  /** When the first attempt started: the task's wall clock runs from here. */
  firstStartTime?: string;
}

let etagCounter = 0;
export function newEtag(): string {
  etagCounter = (etagCounter + 1) % 0xffff;
  return `0x${(Date.now() * 0x10000 + etagCounter).toString(16).toUpperCase()}`;
}

/** The CloudPool JSON Batch returns. */
export function poolJson(pool: PoolRecord, baseUrl: string): Record<string, unknown> {
  return {
    ...pool.extra,
    id: pool.id,
    url: `${baseUrl}/pools/${pool.id}`,
    eTag: pool.eTag,
    lastModified: pool.lastModified,
    creationTime: pool.creationTime,
    state: pool.state,
    stateTransitionTime: pool.stateTransitionTime,
    allocationState: pool.allocationState,
    allocationStateTransitionTime: pool.allocationStateTransitionTime,
    vmSize: pool.vmSize,
    ...(pool.displayName ? { displayName: pool.displayName } : {}),
    currentDedicatedNodes: pool.currentDedicatedNodes,
    currentLowPriorityNodes: pool.currentLowPriorityNodes,
    targetDedicatedNodes: pool.targetDedicatedNodes,
    targetLowPriorityNodes: pool.targetLowPriorityNodes,
    taskSlotsPerNode: pool.taskSlotsPerNode,
    enableAutoScale: false,
  };
}

/** The CloudJob JSON Batch returns. */
export function jobJson(job: JobRecord, baseUrl: string): Record<string, unknown> {
  return {
    id: job.id,
    ...(job.displayName ? { displayName: job.displayName } : {}),
    url: `${baseUrl}/jobs/${job.id}`,
    eTag: job.eTag,
    lastModified: job.lastModified,
    creationTime: job.creationTime,
    state: job.state,
    stateTransitionTime: job.stateTransitionTime,
    ...(job.previousState
      ? { previousState: job.previousState, previousStateTransitionTime: job.previousStateTransitionTime }
      : {}),
    priority: job.priority,
    usesTaskDependencies: job.usesTaskDependencies,
    constraints: {
      ...(job.maxWallClockTime ? { maxWallClockTime: job.maxWallClockTime } : {}),
      maxTaskRetryCount: job.maxTaskRetryCount,
    },
    poolInfo: { poolId: job.poolId },
    onAllTasksComplete: job.onAllTasksComplete,
    onTaskFailure: job.onTaskFailure,
    ...(job.commonEnvironmentSettings.length > 0
      ? { commonEnvironmentSettings: job.commonEnvironmentSettings }
      : {}),
    ...(job.metadata ? { metadata: job.metadata } : {}),
    executionInfo: {
      startTime: job.startTime,
      poolId: job.poolId,
      ...(job.endTime ? { endTime: job.endTime } : {}),
      ...(job.terminateReason ? { terminateReason: job.terminateReason } : {}),
    },
  };
}

/** The CloudTask JSON Batch returns. */
export function taskJson(job: JobRecord, task: TaskRecord, baseUrl: string): Record<string, unknown> {
  const exec = task.executionInfo;
  const jobId = job.id;
  return {
    ...task.spec,
    url: `${baseUrl}/jobs/${jobId}/tasks/${task.spec.id}`,
    eTag: task.eTag,
    lastModified: task.lastModified,
    creationTime: task.creationTime,
    state: task.state,
    stateTransitionTime: task.stateTransitionTime,
    ...(task.previousState
      ? { previousState: task.previousState, previousStateTransitionTime: task.previousStateTransitionTime }
      : {}),
    executionInfo: {
      ...(exec.startTime ? { startTime: exec.startTime } : {}),
      ...(exec.endTime ? { endTime: exec.endTime } : {}),
      ...(exec.exitCode !== undefined ? { exitCode: exec.exitCode } : {}),
      ...(exec.failureInfo ? { failureInfo: exec.failureInfo } : {}),
      retryCount: exec.retryCount,
      ...(exec.lastRetryTime ? { lastRetryTime: exec.lastRetryTime } : {}),
      requeueCount: exec.requeueCount,
      ...(exec.lastRequeueTime ? { lastRequeueTime: exec.lastRequeueTime } : {}),
      ...(exec.result ? { result: exec.result } : {}),
    },
    ...(task.state === 'running' || task.state === 'preparing'
      ? {
          nodeInfo: {
            poolId: job.poolId,
            nodeId: 'local-node',
            taskRootDirectory: `workitems/${jobId}/job-1/${task.spec.id}`,
          },
        }
      : {}),
    constraints: {
      maxWallClockTime: task.spec.constraints?.maxWallClockTime ?? 'P10675199DT2H48M5.4775807S',
      retentionTime: task.spec.constraints?.retentionTime ?? 'P7D',
      maxTaskRetryCount: task.spec.constraints?.maxTaskRetryCount ?? 0,
    },
  };
}

/** Batch's 400 for a request whose body is not JSON. */
export function badJson(): BatchServiceError {
  return new BatchServiceError(
    400,
    'InvalidRequestBody',
    'The specified request body is not syntactically valid.',
  );
}

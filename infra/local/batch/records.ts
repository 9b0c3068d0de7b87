import { BatchServiceError, invalidProperty } from './errors.js';
import {
  newEtag,
  type FailureInfo,
  type JobAddParameter,
  type JobRecord,
  type PoolAddParameter,
  type PoolRecord,
  type TaskAddParameter,
  type TaskRecord,
} from './model.js';

const now = () => new Date().toISOString();

/** A pool as `pool add` creates it: resizing towards its target, its other properties kept as sent. */
export function newPoolRecord(spec: PoolAddParameter): PoolRecord {
  const time = now();
  const {
    id,
    displayName,
    vmSize,
    targetDedicatedNodes,
    targetLowPriorityNodes,
    taskSlotsPerNode,
    ...extra
  } = spec;
  return {
    id,
    ...(displayName ? { displayName } : {}),
    vmSize,
    state: 'active',
    allocationState: 'resizing',
    targetDedicatedNodes: targetDedicatedNodes ?? 0,
    currentDedicatedNodes: 0,
    targetLowPriorityNodes: targetLowPriorityNodes ?? 0,
    currentLowPriorityNodes: 0,
    taskSlotsPerNode: taskSlotsPerNode ?? 1,
    creationTime: time,
    lastModified: time,
    stateTransitionTime: time,
    allocationStateTransitionTime: time,
    eTag: newEtag(),
    extra,
  };
}

/** A pool the service starts with: already allocated. */
export function initialPoolRecord(pool: { id: string; nodes: number; slotsPerNode: number }): PoolRecord {
  return {
    ...newPoolRecord({
      id: pool.id,
      vmSize: 'local',
      targetDedicatedNodes: pool.nodes,
      taskSlotsPerNode: pool.slotsPerNode,
    }),
    allocationState: 'steady',
    currentDedicatedNodes: pool.nodes,
  };
}

/** Moves a pool's allocation to a new state, as a resize starts or ends. */
export function setAllocation(pool: PoolRecord, state: PoolRecord['allocationState']): void {
  const time = now();
  pool.allocationState = state;
  pool.allocationStateTransitionTime = time;
  pool.lastModified = time;
  pool.eTag = newEtag();
}

/** Why a task that was stopped from outside ended, as Batch reports it. */
export function taskEnded(message: string): FailureInfo {
  return { category: 'usererror', code: 'TaskEnded', message };
}

/** A job as `job add` creates it, with Batch's defaults for what the request left out. */
export function newJobRecord(spec: JobAddParameter, poolId: string): JobRecord {
  const time = now();
  return {
    id: spec.id,
    ...(spec.displayName ? { displayName: spec.displayName } : {}),
    poolId,
    priority: spec.priority ?? 0,
    state: 'active',
    creationTime: time,
    lastModified: time,
    stateTransitionTime: time,
    onAllTasksComplete: spec.onAllTasksComplete ?? 'noaction',
    onTaskFailure: spec.onTaskFailure ?? 'noaction',
    usesTaskDependencies: spec.usesTaskDependencies ?? false,
    ...(spec.constraints?.maxWallClockTime ? { maxWallClockTime: spec.constraints.maxWallClockTime } : {}),
    maxTaskRetryCount: spec.constraints?.maxTaskRetryCount ?? 0,
    commonEnvironmentSettings: spec.commonEnvironmentSettings ?? [],
    ...(spec.metadata ? { metadata: spec.metadata } : {}),
    startTime: time,
    eTag: newEtag(),
  };
}

/** Refuses dependencies Batch would refuse: on a job that does not take them, or malformed. */
export function checkTaskDependencies(spec: TaskAddParameter, job: JobRecord): void {
  if (spec.dependsOn && !job.usesTaskDependencies) {
    throw new BatchServiceError(
      409,
      'TaskDependenciesNotSpecifiedOnJob',
      'The job does not allow task dependencies (usesTaskDependencies is false).',
    );
  }
  const idLength = (spec.dependsOn?.taskIds ?? []).join('').length;
  if (idLength > 64_000)
    throw invalidProperty(
      'dependsOn.taskIds',
      'the dependency id list is longer than 64,000 characters; use taskIdRanges',
    );
  for (const range of spec.dependsOn?.taskIdRanges ?? []) {
    if (range.end < range.start)
      throw invalidProperty('dependsOn.taskIdRanges', 'a range ends before it starts');
  }
}

/** A task as it is added: active, never run. */
export function newTaskRecord(spec: TaskAddParameter): TaskRecord {
  const time = now();
  return {
    spec,
    state: 'active',
    creationTime: time,
    lastModified: time,
    stateTransitionTime: time,
    eTag: newEtag(),
    executionInfo: { retryCount: 0, requeueCount: 0 },
  };
}

/** Moves a job or task to a new state, keeping the previous one and a new ETag, as Batch reports them. */
export function transition<S extends string>(
  record: {
    state: S;
    previousState?: S;
    stateTransitionTime: string;
    previousStateTransitionTime?: string;
    lastModified: string;
    eTag: string;
  },
  state: S,
): void {
  const time = now();
  record.previousState = record.state;
  record.previousStateTransitionTime = record.stateTransitionTime;
  record.state = state;
  record.stateTransitionTime = time;
  record.lastModified = time;
  record.eTag = newEtag();
}

/** The task slots a pool offers now: none while it is being deleted. */
export function poolSlots(pool: PoolRecord): number {
  if (pool.state !== 'active') return 0;
  return (pool.currentDedicatedNodes + pool.currentLowPriorityNodes) * pool.taskSlotsPerNode;
}

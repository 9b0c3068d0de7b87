import type { BatchServiceModels } from '@azure/batch';
import type {
  BlobDestination,
  ComputeTaskSpec,
  ComputeTaskState,
  PoolInfo,
  ResourceFileSpec,
} from '../compute/compute.js';
import { compressDependencies, isoDuration } from '../compute/dependencies.js';
import { ValidationError } from '../errors.js';

/**
 * Translations between cloudjobs' compute model and Azure Batch's REST models: tasks to add,
 * their resource and output files, and tasks and pools as Batch reports them.
 */

// Batch takes at most 100 tasks, and about 1 MB, per add-task-collection request.
const MAX_TASKS_PER_CALL = 100;
const MAX_CALL_BYTES = 900 * 1024;

function destinationUrl(destination: BlobDestination): {
  containerUrl: string;
  identityReference?: { resourceId: string };
} {
  return {
    containerUrl: destination.containerUrl,
    ...(destination.identity ? { identityReference: { resourceId: destination.identity } } : {}),
  };
}

function resourceFile(file: ResourceFileSpec): BatchServiceModels.ResourceFile {
  const source = file.source;
  const identity = source.identity ? { identityReference: { resourceId: source.identity } } : {};
  if ('containerUrl' in source) {
    return {
      storageContainerUrl: source.containerUrl,
      ...(source.prefix ? { blobPrefix: source.prefix } : {}),
      ...(file.target ? { filePath: file.target } : {}),
      ...identity,
    };
  }
  return {
    httpUrl: source.url,
    filePath: file.target ?? source.url.split('?')[0]!.split('/').pop()!,
    ...identity,
  };
}

/** The Batch task for a compute task. */
export function toBatchTask(task: ComputeTaskSpec): BatchServiceModels.TaskAddParameter {
  const outputFiles: BatchServiceModels.OutputFile[] = [];
  if (task.logs) {
    // stdout.txt and stderr.txt sit one level above the working directory on a Batch node.
    outputFiles.push({
      filePattern: '../std*.txt',
      destination: {
        container: { ...destinationUrl(task.logs), ...(task.logs.path ? { path: task.logs.path } : {}) },
      },
      uploadOptions: { uploadCondition: 'taskcompletion' },
    });
  }
  for (const output of task.outputs ?? []) {
    outputFiles.push({
      filePattern: output.pattern,
      destination: {
        container: {
          ...destinationUrl(output.destination),
          ...(output.destination.path ? { path: output.destination.path } : {}),
        },
      },
      uploadOptions: {
        uploadCondition:
          output.when === 'success'
            ? 'tasksuccess'
            : output.when === 'failure'
              ? 'taskfailure'
              : 'taskcompletion',
      },
    });
  }
  const dependsOn = task.dependsOn ? compressDependencies(task.id, task.dependsOn) : undefined;
  const dependencyAction = task.runDependentsOnFailure ? 'satisfy' : 'block';
  return {
    id: task.id,
    commandLine: task.commandLine,
    ...(task.displayName ? { displayName: task.displayName } : {}),
    ...(task.environment
      ? { environmentSettings: Object.entries(task.environment).map(([name, value]) => ({ name, value })) }
      : {}),
    ...(task.image
      ? { containerSettings: { imageName: task.image, workingDirectory: 'taskWorkingDirectory' } }
      : {}),
    ...(task.resourceFiles?.length ? { resourceFiles: task.resourceFiles.map(resourceFile) } : {}),
    ...(outputFiles.length > 0 ? { outputFiles } : {}),
    ...(dependsOn ? { dependsOn } : {}),
    ...(task.runDependentsOnFailure !== undefined || task.exitCodeActions
      ? {
          exitConditions: {
            ...(task.exitCodeActions
              ? {
                  exitCodes: task.exitCodeActions.map(({ code, dependencyAction: action }) => ({
                    code,
                    exitOptions: { dependencyAction: action },
                  })),
                }
              : {}),
            default: { dependencyAction },
            preProcessingError: { dependencyAction },
            fileUploadError: { dependencyAction },
          },
        }
      : {}),
    ...(task.maxRetries !== undefined || task.maxWallClockMs !== undefined
      ? {
          constraints: {
            ...(task.maxRetries !== undefined ? { maxTaskRetryCount: task.maxRetries } : {}),
            ...(task.maxWallClockMs !== undefined
              ? { maxWallClockTime: isoDuration(task.maxWallClockMs) }
              : {}),
          },
        }
      : {}),
    ...(task.requiredSlots ? { requiredSlots: task.requiredSlots } : {}),
  };
}

/** Splits tasks into addTaskCollection calls: at most 100 tasks and under 1 MB each. */
export function chunkTasks(
  tasks: BatchServiceModels.TaskAddParameter[],
): BatchServiceModels.TaskAddParameter[][] {
  const chunks: BatchServiceModels.TaskAddParameter[][] = [];
  let current: BatchServiceModels.TaskAddParameter[] = [];
  let bytes = 0;
  for (const task of tasks) {
    const size = Buffer.byteLength(JSON.stringify(task)) + 1;
    if (size > MAX_CALL_BYTES) {
      throw new ValidationError(
        `task ${task.id} is larger than Batch accepts (${size} bytes)`,
        [{ path: `tasks.${task.id}`, message: 'too large' }],
        'TASK_TOO_LARGE',
      );
    }
    if (current.length >= MAX_TASKS_PER_CALL || bytes + size > MAX_CALL_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(task);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export function taskState(task: BatchServiceModels.CloudTask): ComputeTaskState {
  const exec = task.executionInfo;
  return {
    id: task.id ?? '',
    state: task.state ?? 'active',
    ...(exec?.exitCode !== undefined ? { exitCode: exec.exitCode } : {}),
    ...(exec?.result ? { result: exec.result } : {}),
    ...(exec?.failureInfo
      ? {
          failure: {
            category: exec.failureInfo.category,
            code: exec.failureInfo.code ?? '',
            message: exec.failureInfo.message ?? '',
          },
        }
      : {}),
    ...(exec?.startTime ? { startTime: new Date(exec.startTime) } : {}),
    ...(exec?.endTime ? { endTime: new Date(exec.endTime) } : {}),
    retryCount: exec?.retryCount ?? 0,
    requeueCount: exec?.requeueCount ?? 0,
  };
}

export function poolInfo(pool: BatchServiceModels.CloudPool): PoolInfo {
  return {
    id: pool.id ?? '',
    vmSize: pool.vmSize ?? '',
    state: pool.state === 'deleting' ? 'deleting' : 'active',
    allocationState: pool.allocationState ?? 'steady',
    dedicatedNodes: pool.currentDedicatedNodes ?? 0,
    targetDedicatedNodes: pool.targetDedicatedNodes ?? 0,
    lowPriorityNodes: pool.currentLowPriorityNodes ?? 0,
    targetLowPriorityNodes: pool.targetLowPriorityNodes ?? 0,
    slotsPerNode: pool.taskSlotsPerNode ?? 1,
    resizeErrors: (pool.resizeErrors ?? []).map((error) => ({
      code: error.code ?? 'ResizeError',
      message: error.message ?? '',
    })),
    ...(pool.creationTime ? { creationTime: new Date(pool.creationTime) } : {}),
  };
}

import { describe, expect, it } from 'vitest';
import type { TaskStatus } from '../../../shared/domain/lifecycle.js';
import {
  countStatuses,
  pendingOrQueued,
  progressOf,
  statusFromBatch,
  tasksToSkip,
  type BatchTaskView,
  type GraphTask,
} from '../../../shared/domain/taskState.js';

describe('task status from Batch', () => {
  it.each<[string, BatchTaskView, { status: TaskStatus; attempt: number }]>([
    ['active', { state: 'active', retryCount: 0, requeueCount: 0 }, { status: 'QUEUED', attempt: 1 }],
    ['preparing', { state: 'preparing', retryCount: 0, requeueCount: 0 }, { status: 'RUNNING', attempt: 1 }],
    [
      'running, second try',
      { state: 'running', retryCount: 1, requeueCount: 0 },
      { status: 'RUNNING', attempt: 2 },
    ],
    [
      'requeued after preemption',
      { state: 'active', retryCount: 0, requeueCount: 2 },
      { status: 'QUEUED', attempt: 3 },
    ],
    [
      'succeeded',
      { state: 'completed', result: 'success', exitCode: 0, retryCount: 0, requeueCount: 0 },
      { status: 'SUCCEEDED', attempt: 1 },
    ],
    [
      'failed on exit code',
      {
        state: 'completed',
        result: 'failure',
        exitCode: 3,
        failureCode: 'FailureExitCode',
        retryCount: 2,
        requeueCount: 0,
      },
      { status: 'FAILED', attempt: 3 },
    ],
    [
      'killed by its wall clock',
      {
        state: 'completed',
        result: 'failure',
        failureCode: 'MaxWallClockTimeExpiry',
        retryCount: 0,
        requeueCount: 0,
      },
      { status: 'FAILED', attempt: 1 },
    ],
    [
      'ended with its job',
      { state: 'completed', result: 'failure', failureCode: 'TaskEnded', retryCount: 0, requeueCount: 0 },
      { status: 'CANCELLED', attempt: 1 },
    ],
    [
      'completed by its job’s end before it ever ran',
      { state: 'completed', retryCount: 0, requeueCount: 0 },
      { status: 'CANCELLED', attempt: 1 },
    ],
  ])('should read %s', (_case, task, expected) => {
    expect(statusFromBatch(task)).toEqual(expected);
  });
});

const task = (
  id: string,
  dependsOn: string[] = [],
  runDependentsOnFailure = false,
  ranges: Array<[number, number]> = [],
): GraphTask => ({
  id,
  dependsOn,
  dependsOnRanges: ranges,
  runDependentsOnFailure,
});

describe('skipping what can never run', () => {
  // prep → train → report, and cleanup after train even when it fails.
  const graph = [
    task('prep'),
    task('train', ['prep']),
    task('report', ['train']),
    task('cleanup', ['train']),
  ];
  const order = ['prep', 'train', 'report', 'cleanup'];

  it('should skip every task downstream of a failure, transitively', () => {
    const statuses = new Map<string, TaskStatus>([
      ['prep', 'FAILED'],
      ['train', 'QUEUED'],
      ['report', 'QUEUED'],
      ['cleanup', 'QUEUED'],
    ]);
    expect(tasksToSkip(graph, order, statuses)).toEqual([
      { id: 'train', status: 'SKIPPED' },
      { id: 'report', status: 'SKIPPED' },
      { id: 'cleanup', status: 'SKIPPED' },
    ]);
  });

  it('should let dependents run when the failed task allows it', () => {
    const lenient = [
      task('prep'),
      task('train', ['prep'], true),
      task('report', ['train']),
      task('cleanup', ['train']),
    ];
    const statuses = new Map<string, TaskStatus>([
      ['prep', 'SUCCEEDED'],
      ['train', 'FAILED'],
      ['report', 'QUEUED'],
      ['cleanup', 'QUEUED'],
    ]);
    expect(tasksToSkip(lenient, order, statuses)).toEqual([]);
  });

  it('should skip nothing while dependencies are still running, and never a finished task', () => {
    const statuses = new Map<string, TaskStatus>([
      ['prep', 'RUNNING'],
      ['train', 'QUEUED'],
      ['report', 'SUCCEEDED'],
      ['cleanup', 'QUEUED'],
    ]);
    expect(tasksToSkip(graph, order, statuses)).toEqual([]);
  });

  it('should follow integer ranges', () => {
    const ranged = [task('1'), task('2'), task('3', [], false, [[1, 2]])];
    expect(
      tasksToSkip(
        ranged,
        ['1', '2', '3'],
        new Map<string, TaskStatus>([
          ['1', 'SUCCEEDED'],
          ['2', 'CANCELLED'],
        ]),
      ),
    ).toEqual([{ id: '3', status: 'CANCELLED' }]);
  });

  it('should cancel what a cancelled task kept from running, transitively, and skip behind a failure', () => {
    const statuses = new Map<string, TaskStatus>([
      ['prep', 'CANCELLED'],
      ['train', 'QUEUED'],
      ['report', 'QUEUED'],
      ['cleanup', 'QUEUED'],
    ]);
    expect(tasksToSkip(graph, order, statuses)).toEqual([
      { id: 'train', status: 'CANCELLED' },
      { id: 'report', status: 'CANCELLED' },
      { id: 'cleanup', status: 'CANCELLED' },
    ]);
    const both = [task('a'), task('b'), task('c', ['a', 'b'])];
    const mixed = new Map<string, TaskStatus>([
      ['a', 'FAILED'],
      ['b', 'CANCELLED'],
    ]);
    // Behind both a failure and a cancellation, the cancellation says why it never ran.
    expect(tasksToSkip(both, ['a', 'b', 'c'], mixed)).toEqual([{ id: 'c', status: 'CANCELLED' }]);
  });

  it('should tell a task waiting on dependencies from one waiting for a slot', () => {
    const byId = new Map(graph.map((t) => [t.id, t]));
    expect(pendingOrQueued(graph[1]!, byId, new Map([['prep', 'RUNNING']]))).toBe('PENDING');
    expect(pendingOrQueued(graph[1]!, byId, new Map([['prep', 'SUCCEEDED']]))).toBe('QUEUED');
    expect(pendingOrQueued(graph[0]!, byId, new Map())).toBe('QUEUED');
  });
});

describe('job progress from task counts', () => {
  it.each<[string, TaskStatus[], number, { started: boolean; allDone: boolean; failed: boolean }]>([
    ['nothing started', ['QUEUED', 'PENDING'], 2, { started: false, allDone: false, failed: false }],
    ['one running', ['RUNNING', 'PENDING'], 2, { started: true, allDone: false, failed: false }],
    ['all succeeded', ['SUCCEEDED', 'SUCCEEDED'], 2, { started: true, allDone: true, failed: false }],
    [
      'a failure with a skipped dependent',
      ['FAILED', 'SKIPPED'],
      2,
      { started: true, allDone: true, failed: true },
    ],
    [
      'a failure with cleanup still to run',
      ['FAILED', 'QUEUED'],
      2,
      { started: true, allDone: false, failed: true },
    ],
    ['records not all written yet', ['SUCCEEDED'], 2, { started: true, allDone: false, failed: false }],
  ])('should read %s', (_case, statuses, taskCount, expected) => {
    expect(progressOf(countStatuses(statuses), taskCount)).toEqual(expected);
  });
});

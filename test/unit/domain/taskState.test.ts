import { describe, expect, it } from 'vitest';
import type { TaskStatus } from '../../../shared/domain/lifecycle.js';
import {
  countStatuses,
  judgeTasks,
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

  it('should skip behind a task cancelled on its own, and run its dependents when it allows it', () => {
    const statuses = new Map<string, TaskStatus>([
      ['prep', 'SUCCEEDED'],
      ['train', 'CANCELLED'],
      ['report', 'QUEUED'],
      ['cleanup', 'QUEUED'],
    ]);
    const alone = new Set(['train']);
    expect(tasksToSkip(graph, order, statuses, alone)).toEqual([
      { id: 'report', status: 'SKIPPED' },
      { id: 'cleanup', status: 'SKIPPED' },
    ]);
    const lenient = [
      task('prep'),
      task('train', ['prep'], true),
      task('report', ['train']),
      task('cleanup', ['train']),
    ];
    expect(tasksToSkip(lenient, order, statuses, alone)).toEqual([]);
    // Cancelled with its job, the same task still lets nothing run, whatever it allows.
    expect(tasksToSkip(lenient, order, statuses)).toEqual([
      { id: 'report', status: 'CANCELLED' },
      { id: 'cleanup', status: 'CANCELLED' },
    ]);
    // Its dependents no longer wait on it once it lets them run.
    const byId = new Map(lenient.map((t) => [t.id, t]));
    expect(pendingOrQueued(lenient[2]!, byId, statuses, alone)).toBe('QUEUED');
    expect(pendingOrQueued(lenient[2]!, byId, statuses)).toBe('PENDING');
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

describe('how a job whose tasks have ended comes out', () => {
  const counts = (partial: Partial<Record<TaskStatus, number>>) => ({ ...countStatuses([]), ...partial });

  it('should finish when every task succeeded', () => {
    expect(judgeTasks(counts({ SUCCEEDED: 3 }), 0, false)).toEqual({
      status: 'FINISHED',
      condition: 'NORMAL_COMPLETION',
      message: '3 task(s) succeeded',
    });
  });

  it('should fail with TASK_CANCELLED for a task cancelled on its own, unless the job allows it', () => {
    expect(judgeTasks(counts({ SUCCEEDED: 2, CANCELLED: 1 }), 1, false)).toEqual({
      status: 'FAILED',
      condition: 'TASK_CANCELLED',
      message: '1 cancelled of 3 task(s)',
    });
    expect(judgeTasks(counts({ SUCCEEDED: 2, CANCELLED: 1 }), 1, true)).toEqual({
      status: 'FINISHED',
      condition: 'NORMAL_COMPLETION',
      message: '2 task(s) succeeded, 1 cancelled',
    });
    // What the cancelled task kept from running did not succeed: allowed or not, the job failed.
    expect(judgeTasks(counts({ SUCCEEDED: 1, CANCELLED: 1, SKIPPED: 2 }), 1, true)).toMatchObject({
      status: 'FAILED',
      condition: 'TASK_CANCELLED',
      message: '2 skipped, 1 cancelled of 4 task(s)',
    });
  });

  it('should name a failure first, and blame Batch for tasks it ended that nobody cancelled', () => {
    expect(judgeTasks(counts({ FAILED: 1, CANCELLED: 1, SKIPPED: 1 }), 1, true)).toMatchObject({
      status: 'FAILED',
      condition: 'TASK_FAILED',
      message: '1 failed, 1 skipped, 1 cancelled of 3 task(s)',
    });
    expect(judgeTasks(counts({ SUCCEEDED: 1, CANCELLED: 2 }), 1, true)).toMatchObject({
      status: 'FAILED',
      condition: 'BATCH_ERROR',
      message: '1 cancelled, 1 ended by Batch of 3 task(s)',
    });
    // A stale note for a task that did not end CANCELLED counts for nothing.
    expect(judgeTasks(counts({ SUCCEEDED: 2 }), 1, false)).toMatchObject({ status: 'FINISHED' });
  });
});

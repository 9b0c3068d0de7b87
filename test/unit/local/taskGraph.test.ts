import { describe, expect, it } from 'vitest';
import type {
  JobRecord,
  PoolRecord,
  TaskAddParameter,
  TaskRecord,
} from '../../../infra/local/batch/model.js';
import { newJobRecord, newPoolRecord, newTaskRecord } from '../../../infra/local/batch/records.js';
import { replay, type JournalRecord } from '../../../infra/local/batch/stateJournal.js';
import {
  linkTask,
  newJobEntry,
  releaseDependents,
  type JobEntry,
  type TaskEntry,
} from '../../../infra/local/batch/taskGraph.js';

function job(): JobEntry {
  return newJobEntry(
    newJobRecord({ id: 'job', poolInfo: { poolId: 'pool' }, usesTaskDependencies: true }, 'pool'),
  );
}

function task(id: string, dependsOn?: TaskAddParameter['dependsOn'], extra: Partial<TaskAddParameter> = {}) {
  return newTaskRecord({ id, commandLine: 'true', ...(dependsOn ? { dependsOn } : {}), ...extra });
}

/** Completes a task as the node would, then tells its dependents. */
function complete(entry: JobEntry, id: string, result: 'success' | 'failure', exitCode: number): boolean {
  const t = entry.tasks.get(id.toLowerCase())!;
  t.record.state = 'completed';
  t.record.executionInfo.result = result;
  t.record.executionInfo.exitCode = exitCode;
  entry.ready = entry.ready.filter((r) => r !== t);
  t.queued = false;
  return releaseDependents(entry, t);
}

const ready = (entry: JobEntry) =>
  entry.ready.filter((t: TaskEntry) => t.queued).map((t) => t.record.spec.id);

describe('the local Batch task graph', () => {
  it('should queue a task without dependencies at once, and its dependent only when it succeeds', () => {
    const entry = job();
    expect(linkTask(entry, task('a'))).toBe(true);
    expect(linkTask(entry, task('b', { taskIds: ['a'] }))).toBe(false);
    expect(ready(entry)).toEqual(['a']);
    expect(complete(entry, 'a', 'success', 0)).toBe(true);
    expect(ready(entry)).toEqual(['b']);
  });

  it('should accept a dependent before the task it waits for, in any case of id', () => {
    const entry = job();
    linkTask(entry, task('child', { taskIds: ['PARENT'] }));
    expect(entry.waiting.get('parent')).toHaveLength(1);
    linkTask(entry, task('parent'));
    expect(entry.waiting.size).toBe(0);
    expect(ready(entry)).toEqual(['parent']);
    complete(entry, 'parent', 'success', 0);
    expect(ready(entry)).toEqual(['child']);
  });

  it('should block dependents of a failed task for good, as Batch leaves them active', () => {
    const entry = job();
    linkTask(entry, task('a'));
    linkTask(entry, task('b', { taskIds: ['a'] }));
    expect(complete(entry, 'a', 'failure', 3)).toBe(false);
    const b = entry.tasks.get('b')!;
    expect(b.blocked).toBe(true);
    expect(b.record.state).toBe('active');
    expect(ready(entry)).toEqual([]);
  });

  it('should let an exit condition satisfy dependents of a failed task', () => {
    const entry = job();
    linkTask(
      entry,
      task('a', undefined, {
        exitConditions: { exitCodes: [{ code: 3, exitOptions: { dependencyAction: 'satisfy' } }] },
      }),
    );
    linkTask(entry, task('b', { taskIds: ['a'] }));
    complete(entry, 'a', 'failure', 3);
    expect(ready(entry)).toEqual(['b']);
  });

  it('should wait for every task of a range, and link a dependent added after its dependency ended', () => {
    const entry = job();
    for (const id of ['1', '2', '3']) linkTask(entry, task(id));
    linkTask(entry, task('all', { taskIdRanges: [{ start: 1, end: 3 }] }));
    complete(entry, '1', 'success', 0);
    complete(entry, '2', 'success', 0);
    expect(ready(entry)).not.toContain('all');
    complete(entry, '3', 'success', 0);
    expect(ready(entry)).toContain('all');

    // A task added once its dependency failed is blocked from the start; one whose succeeded is ready.
    const later = job();
    linkTask(later, task('x'));
    complete(later, 'x', 'failure', 1);
    linkTask(later, task('y', { taskIds: ['x'] }));
    expect(later.tasks.get('y')!.blocked).toBe(true);
    linkTask(later, task('z'));
    complete(later, 'z', 'success', 0);
    expect(linkTask(later, task('w', { taskIds: ['z'] }))).toBe(true);
  });

  it('should resolve waiters of a task that arrives already completed, as after a restart', () => {
    const entry = job();
    linkTask(entry, task('b', { taskIds: ['a'] }));
    const a = task('a');
    a.state = 'completed';
    a.executionInfo.result = 'success';
    a.executionInfo.exitCode = 0;
    expect(linkTask(entry, a)).toBe(true);
    expect(ready(entry)).toEqual(['b']);
  });
});

describe('the local Batch journal replay', () => {
  const pool = (id: string): PoolRecord => newPoolRecord({ id, vmSize: 'local' });
  const jobRecord = (id: string): JobRecord => newJobRecord({ id, poolInfo: { poolId: 'p' } }, 'p');
  const taskRecord = (id: string): TaskRecord => newTaskRecord({ id, commandLine: 'true' });

  it('should fold records written after a snapshot onto it, matching ids without case', () => {
    const snapshot = { pools: [pool('P1')], jobs: [{ job: jobRecord('J1'), tasks: [taskRecord('t1')] }] };
    const updated = { ...taskRecord('T1'), state: 'completed' as const };
    const records: JournalRecord[] = [
      { t: 'pool', pool: pool('p2') },
      { t: 'pool-', id: 'p1' },
      { t: 'tasks', job: 'j1', tasks: [updated, taskRecord('t2')] },
      { t: 'task-', job: 'J1', id: 't2' },
      { t: 'job', job: jobRecord('j2') },
      { t: 'tasks', job: 'nope', tasks: [taskRecord('lost')] },
    ];
    const { pools, jobs } = replay(snapshot, records);
    expect([...pools.keys()]).toEqual(['p2']);
    expect([...jobs.keys()]).toEqual(['j1', 'j2']);
    expect([...jobs.get('j1')!.tasks.values()]).toEqual([updated]);
  });

  it('should keep a job’s tasks when the job record changes, and drop them with the job', () => {
    const first = jobRecord('j');
    const changed = { ...first, priority: 7 };
    const kept = replay(undefined, [
      { t: 'job', job: first },
      { t: 'tasks', job: 'j', tasks: [taskRecord('a')] },
      { t: 'job', job: changed },
    ]);
    expect(kept.jobs.get('j')!.job.priority).toBe(7);
    expect(kept.jobs.get('j')!.tasks.size).toBe(1);
    const gone = replay(undefined, [
      { t: 'job', job: first },
      { t: 'job-', id: 'J' },
      { t: 'job', job: first },
    ]);
    expect(gone.jobs.get('j')!.tasks.size).toBe(0);
  });
});

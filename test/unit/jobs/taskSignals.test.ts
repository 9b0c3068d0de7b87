/* eslint-disable @typescript-eslint/require-await -- fakes keep the async signatures of what they stand in for */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ComputeBackend, ComputeTaskState, TaskCounts } from '../../../shared/compute/compute.js';
import { NotFoundError } from '../../../shared/errors.js';
import type { JobStatus } from '../../../shared/domain/lifecycle.js';
import type { StoredGraph } from '../../../shared/jobs/jobRunner.js';
import type { JobSignal } from '../../../shared/orchestration/signals.js';
import { StatusRecorder } from '../../../shared/jobs/statusRecorder.js';
import { TaskSignals, type OrchestrationControl } from '../../../shared/jobs/taskSignals.js';
import { MemoryJobStore } from '../../support/memoryStores.js';
import { RecordingTelemetry } from '../../support/telemetry.js';
import { METRICS } from '../../../shared/telemetry.js';

/** Batch as these handlers see it: task states, counts, listings, termination. */
class FakeBatch {
  readonly tasks = new Map<string, ComputeTaskState>();
  readonly reads: string[] = [];
  readonly terminated: string[] = [];
  /** States a task shows on its next reads before its settled one (uploads still running). */
  readonly settling = new Map<string, ComputeTaskState[]>();

  set(id: string, state: Partial<ComputeTaskState> & Pick<ComputeTaskState, 'state'>) {
    this.tasks.set(id, { id, retryCount: 0, requeueCount: 0, ...state });
  }
  backend(): ComputeBackend {
    return {
      getTask: async (_job: string, id: string) => {
        this.reads.push(id);
        const early = this.settling.get(id)?.shift();
        return early ?? this.tasks.get(id);
      },
      taskCounts: async (): Promise<TaskCounts> => {
        const all = [...this.tasks.values()];
        return {
          active: all.filter((t) => t.state === 'active').length,
          running: all.filter((t) => t.state === 'running').length,
          completed: all.filter((t) => t.state === 'completed').length,
          succeeded: all.filter((t) => t.result === 'success').length,
          failed: all.filter((t) => t.result === 'failure').length,
        };
      },
      listTasks: async (_job: string, options?: { state?: string }) => ({
        tasks: [...this.tasks.values()].filter((t) => !options?.state || t.state === options.state),
      }),
      terminateJob: async (job: string) => {
        this.terminated.push(job);
      },
      terminateTask: async (_job: string, id: string) => {
        const task = this.tasks.get(id);
        if (!task) return false;
        this.terminated.push(id);
        // Batch leaves a completed task as it ended.
        if (task.state !== 'completed') {
          this.set(id, {
            state: 'completed',
            result: 'failure',
            failure: { category: 'usererror', code: 'TaskEnded', message: 'terminated' },
          });
        }
        return true;
      },
    } as unknown as ComputeBackend;
  }
}

const done = (exitCode = 0): Partial<ComputeTaskState> & Pick<ComputeTaskState, 'state'> => ({
  state: 'completed',
  result: exitCode === 0 ? 'success' : 'failure',
  exitCode,
  ...(exitCode === 0 ? {} : { failure: { category: 'usererror', code: 'FailureExitCode', message: 'x' } }),
});

// a → b → d; c alone; b does not let its dependents run if it fails.
const GRAPH: StoredGraph = {
  tasks: [
    { id: 'a', dependsOn: [], dependsOnRanges: [], runDependentsOnFailure: false },
    { id: 'b', dependsOn: ['a'], dependsOnRanges: [], runDependentsOnFailure: false },
    { id: 'c', dependsOn: [], dependsOnRanges: [], runDependentsOnFailure: false },
    { id: 'd', dependsOn: ['b'], dependsOnRanges: [], runDependentsOnFailure: false },
  ],
  order: ['a', 'b', 'c', 'd'],
};

describe('task signals and reconciliation', () => {
  let store: MemoryJobStore;
  let batch: FakeBatch;
  let signals: TaskSignals;
  let raised: Array<{ jobId: string; signal: JobSignal }>;
  let now: Date;
  let telemetry: RecordingTelemetry;
  const raise = async (jobId: string, signal: JobSignal) => {
    raised.push({ jobId, signal });
  };

  const job = async (status: JobStatus, id = 'job-1') => {
    await store.createJob({
      id,
      owner: 'alice',
      spec: { name: 'j', tasks: [] },
      name: 'j',
      pool: 'p',
      tags: {},
      taskCount: 4,
      at: new Date(now.getTime() - 120_000).toISOString(),
    });
    await store.putTasks(id, [
      { id: 'a', status: 'QUEUED' },
      { id: 'b', status: 'PENDING' },
      { id: 'c', status: 'QUEUED' },
      { id: 'd', status: 'PENDING' },
    ]);
    const path: JobStatus[] = [
      'PROCESSING_INPUTS',
      'STAGING_INPUTS',
      'STAGING_JOB',
      'SUBMITTING_JOB',
      'QUEUED',
      'RUNNING',
    ];
    for (const to of path.slice(0, path.indexOf(status) + 1)) {
      await store.recordStatus(id, { to, message: to, at: now.toISOString() });
    }
    return id;
  };
  const statuses = async (id: string) =>
    Object.fromEntries((await store.listTasks(id, { limit: 10 })).items.map((t) => [t.id, t.status]));

  beforeEach(() => {
    store = new MemoryJobStore();
    batch = new FakeBatch();
    raised = [];
    now = new Date('2026-11-23T10:00:00Z');
    telemetry = new RecordingTelemetry();
    signals = new TaskSignals({
      store,
      compute: batch.backend(),
      statuses: new StatusRecorder(store, () => now),
      graph: async () => GRAPH,
      settleDelaysMs: [1, 1],
      sleep: async () => undefined,
      now: () => now,
      telemetry,
    });
  });

  it('should count tasks as they end and log each failed one with its job and task ids, once', async () => {
    const id = await job('RUNNING');
    batch.set('a', done());
    batch.set('c', done());
    await signals.onSignals(
      [
        { jobId: id, taskId: 'a' },
        { jobId: id, taskId: 'c' },
      ],
      raise,
    );
    batch.set('b', done(3));
    await signals.onSignals([{ jobId: id, taskId: 'b' }], raise);
    // The same news again records nothing new, so it counts nothing either.
    await signals.onSignals([{ jobId: id, taskId: 'b' }], raise);
    expect(telemetry.total(METRICS.tasksCompleted, { status: 'SUCCEEDED' })).toBe(2);
    expect(telemetry.total(METRICS.tasksCompleted, { status: 'FAILED' })).toBe(1);
    // d depends on b, which does not let its dependents run: it is skipped, and counted.
    expect(telemetry.total(METRICS.tasksCompleted, { status: 'SKIPPED' })).toBe(1);
    expect(telemetry.lines).toEqual([
      {
        level: 'warning',
        message: 'task failed with exit code 3',
        fields: expect.objectContaining({ jobId: id, taskId: 'b', owner: 'alice', exitCode: 3 }) as unknown,
      },
    ]);
  });

  it('should report on every reconcile pass how long the oldest job in flight has been in its state', async () => {
    const id = await job('RUNNING');
    now = new Date(now.getTime() + 90 * 60_000);
    await signals.reconcile({ raise, state: async () => 'running', start: async () => undefined });
    expect(
      telemetry.metrics.filter((m) => m.name === METRICS.oldestStateAgeSeconds).map((m) => m.value),
    ).toEqual([90 * 60]);
    await store.recordStatus(id, {
      to: 'CANCELLED',
      message: 'c',
      condition: 'CANCELLED_BY_USER',
      at: now.toISOString(),
    });
    await signals.reconcile({ raise, state: async () => 'ended', start: async () => undefined });
    expect(telemetry.metrics.at(-1)).toMatchObject({ name: METRICS.oldestStateAgeSeconds, value: 0 });
  });

  it('should record what Batch says and tell a queued job it has started, once per milestone', async () => {
    const id = await job('QUEUED');
    batch.set('a', done());
    await signals.onSignals([{ jobId: id, taskId: 'a' }], raise);
    expect(await statuses(id)).toMatchObject({ a: 'SUCCEEDED', b: 'PENDING' });
    expect(raised).toEqual([{ jobId: id, signal: { type: 'tasks', started: true, allDone: false } }]);

    // Once RUNNING is recorded, more news of single tasks is not the orchestration's business.
    await store.recordStatus(id, { to: 'RUNNING', message: 'r', at: now.toISOString() });
    batch.set('c', done());
    await signals.onSignals(
      [
        { jobId: id, taskId: 'c' },
        { jobId: id, taskId: 'c' },
      ],
      raise,
    );
    expect(raised).toHaveLength(1);
  });

  it('should skip what a failed task blocks, transitively, and say when every task is done', async () => {
    const id = await job('RUNNING');
    batch.set('a', done(3));
    batch.set('c', done());
    await signals.onSignals(
      [
        { jobId: id, taskId: 'a' },
        { jobId: id, taskId: 'c' },
      ],
      raise,
    );
    expect(await statuses(id)).toEqual({ a: 'FAILED', b: 'SKIPPED', c: 'SUCCEEDED', d: 'SKIPPED' });
    expect(raised).toEqual([{ jobId: id, signal: { type: 'tasks', started: true, allDone: true } }]);
    expect((await store.listTasks(id, { limit: 1 })).items[0]).toMatchObject({ exitCode: 3 });
  });

  it('should give a task whose logs arrived a moment to be marked completed by Batch', async () => {
    const id = await job('RUNNING');
    batch.set('c', done());
    batch.settling.set('c', [
      { id: 'c', state: 'running', retryCount: 0, requeueCount: 0 },
      { id: 'c', state: 'running', retryCount: 0, requeueCount: 0 },
    ]);
    await signals.onSignals([{ jobId: id, taskId: 'c' }], raise);
    expect(batch.reads).toEqual(['c', 'c', 'c']);
    expect((await statuses(id)).c).toBe('SUCCEEDED');
  });

  it('should ignore signals of jobs that are gone, ended or not yet on Batch, without asking Batch', async () => {
    const pending = await job('STAGING_INPUTS', 'job-staging');
    const ended = await job('RUNNING', 'job-ended');
    await store.recordStatus(ended, {
      to: 'CANCELLED',
      condition: 'CANCELLED_BY_USER',
      message: 'c',
      at: now.toISOString(),
    });
    await signals.onSignals(
      [
        { jobId: 'nobody', taskId: 'a' },
        { jobId: pending, taskId: 'a' },
        { jobId: ended, taskId: 'a' },
      ],
      raise,
    );
    expect(batch.reads).toEqual([]);
    expect(raised).toEqual([]);
  });

  describe('reconcile', () => {
    const control = (state: 'running' | 'ended' | 'missing') => {
      const started: string[] = [];
      const c: OrchestrationControl = {
        raise,
        state: async () => state,
        start: async (id) => void started.push(id),
      };
      return { control: c, started };
    };

    it('should repair what lost signals missed and raise the milestone nobody raised', async () => {
      const id = await job('RUNNING');
      for (const task of ['a', 'b', 'c', 'd']) batch.set(task, done());
      const { control: c } = control('running');
      const report = await signals.reconcile(c);
      expect(report).toMatchObject({ jobs: 1, repaired: 1, orphaned: 0 });
      expect(await statuses(id)).toEqual({ a: 'SUCCEEDED', b: 'SUCCEEDED', c: 'SUCCEEDED', d: 'SUCCEEDED' });
      expect(raised).toEqual([{ jobId: id, signal: { type: 'tasks', started: true, allDone: true } }]);
    });

    it('should start the orchestration of a job stored but never started', async () => {
      await store.createJob({
        id: 'job-new',
        owner: 'alice',
        spec: { name: 'j', tasks: [] },
        name: 'j',
        pool: 'p',
        tags: {},
        taskCount: 1,
        at: new Date(now.getTime() - 120_000).toISOString(),
      });
      const { control: c, started } = control('missing');
      expect((await signals.reconcile(c)).started).toBe(1);
      expect(started).toEqual(['job-new']);
    });

    it('should fail a job whose orchestration ended without ending it, and stop its Batch job', async () => {
      const id = await job('QUEUED');
      const { control: c } = control('ended');
      const report = await signals.reconcile(c);
      expect(report.orphaned).toBe(1);
      expect(report.events).toEqual([
        expect.objectContaining({
          jobId: id,
          status: 'FAILED',
          condition: 'INTERNAL_ERROR',
          previousStatus: 'QUEUED',
        }),
      ]);
      expect(batch.terminated).toEqual([id]);
      expect(await store.getJob(id)).toMatchObject({ status: 'FAILED', condition: 'INTERNAL_ERROR' });
    });

    it('should leave a job alone whose Batch job does not exist yet', async () => {
      const id = await job('SUBMITTING_JOB');
      const backend = batch.backend();
      backend.taskCounts = async () => {
        throw new NotFoundError('no such job', 'BATCH_JOB_NOT_FOUND');
      };
      const quiet = new TaskSignals({
        store,
        compute: backend,
        statuses: new StatusRecorder(store, () => now),
        graph: async () => GRAPH,
        now: () => now,
      });
      expect(await quiet.reconcile(control('running').control)).toMatchObject({ repaired: 0, orphaned: 0 });
      expect((await store.getJob(id))!.status).toBe('SUBMITTING_JOB');
    });
  });

  describe('logging task changes for subscribers', () => {
    const logging = (wanted: (job: { id: string; owner: string }) => boolean) =>
      new TaskSignals({
        store,
        compute: batch.backend(),
        statuses: new StatusRecorder(store, () => now),
        graph: async () => GRAPH,
        settleDelaysMs: [1, 1],
        sleep: async () => undefined,
        now: () => now,
        logTaskEvents: async (job) => wanted(job),
      });

    it('should log the changes, the skips they cause included, and announce them once', async () => {
      const id = await job('RUNNING');
      batch.set('a', done());
      batch.set('c', { state: 'running' });
      const news = await logging(() => true).onSignals(
        [
          { jobId: id, taskId: 'a' },
          { jobId: id, taskId: 'c' },
        ],
        raise,
      );
      expect(
        (await store.taskLog(id, { after: 0, limit: 10 })).map((e) => [e.sequence, e.taskId, e.status]),
      ).toEqual([
        [1, 'a', 'SUCCEEDED'],
        [2, 'c', 'RUNNING'],
      ]);
      expect(news).toEqual([
        {
          type: 'task.status.changed',
          jobId: id,
          owner: 'alice',
          statuses: ['SUCCEEDED', 'RUNNING'],
          through: 2,
        },
      ]);

      batch.set('b', done(4));
      const more = await logging(() => true).onSignals([{ jobId: id, taskId: 'b' }], raise);
      const log = await store.taskLog(id, { after: 2, limit: 10 });
      expect(log.map((e) => [e.sequence, e.taskId, e.previousStatus, e.status, e.exitCode])).toEqual([
        [3, 'b', 'PENDING', 'FAILED', 4],
        [4, 'd', 'PENDING', 'SKIPPED', undefined],
      ]);
      expect(more.map((n) => n.type === 'task.status.changed' && [n.statuses, n.through])).toEqual([
        [['FAILED'], 3],
        [['SKIPPED'], 4],
      ]);
      // Nothing new: nothing logged, nothing announced.
      expect(await logging(() => true).onSignals([{ jobId: id, taskId: 'b' }], raise)).toEqual([]);
    });

    it('should log nothing for a job nobody wants task events of', async () => {
      const id = await job('RUNNING');
      batch.set('a', done());
      const asked: string[] = [];
      const news = await logging((j) => {
        asked.push(`${j.owner}/${j.id}`);
        return false;
      }).onSignals([{ jobId: id, taskId: 'a' }], raise);
      expect(news).toEqual([]);
      expect(asked).toEqual([`alice/${id}`]);
      expect(await statuses(id)).toMatchObject({ a: 'SUCCEEDED' });
      expect(await store.taskLog(id, { after: 0, limit: 10 })).toEqual([]);
    });

    it('should announce what reconciliation logs with the status changes it records', async () => {
      const id = await job('RUNNING');
      batch.set('a', done());
      batch.set('c', done());
      const control: OrchestrationControl = {
        raise,
        state: async () => 'running',
        start: async () => undefined,
      };
      const report = await logging(() => true).reconcile(control);
      expect(report.events).toEqual([
        { type: 'task.status.changed', jobId: id, owner: 'alice', statuses: ['SUCCEEDED'], through: 2 },
      ]);
    });
  });
  it('should tell the orchestration again of tasks counted in an open job but never recorded', async () => {
    const id = await job('RUNNING');
    const entry = store.jobs.get(id)!;
    entry.job = { ...entry.job, open: true };
    await store.appendTasks(id, {
      tasks: [{ id: 'e', command: 'true' }],
      check: () => Promise.resolve(),
    });
    const control: OrchestrationControl = {
      raise,
      state: async () => 'running',
      start: async () => undefined,
    };
    await signals.reconcile(control);
    expect(raised).toContainEqual({ jobId: id, signal: { type: 'tasksAdded', set: 1, first: 4, count: 1 } });
    // Once recorded, nothing is said.
    raised = [];
    await store.putTasks(id, [{ id: 'e', status: 'PENDING' }], 4);
    await signals.reconcile(control);
    expect(raised.filter((r) => r.signal.type === 'tasksAdded')).toEqual([]);
  });

  describe('cancelling one task', () => {
    it('should skip what it kept from running and tell the job once no task is left', async () => {
      const id = await job('RUNNING');
      batch.set('a', done());
      batch.set('b', { state: 'running' });
      batch.set('c', done());
      batch.set('d', { state: 'active' });
      await signals.onSignals(
        [
          { jobId: id, taskId: 'a' },
          { jobId: id, taskId: 'c' },
        ],
        raise,
      );
      const { task } = await signals.cancelTask((await store.getJob(id))!, 'b', 'alice', raise);
      expect(task).toMatchObject({ id: 'b', status: 'CANCELLED' });
      expect(await statuses(id)).toEqual({ a: 'SUCCEEDED', b: 'CANCELLED', c: 'SUCCEEDED', d: 'SKIPPED' });
      expect(await store.tasksCancelledAlone(id)).toEqual(new Set(['b']));
      expect(raised.at(-1)).toEqual({ jobId: id, signal: { type: 'tasks', started: true, allDone: true } });
    });

    it('should refuse a task that has ended, also one that ended just before the cancel reached it', async () => {
      const id = await job('RUNNING');
      batch.set('a', done());
      await signals.onSignals([{ jobId: id, taskId: 'a' }], raise);
      const job1 = (await store.getJob(id))!;
      await expect(signals.cancelTask(job1, 'a', 'alice', raise)).rejects.toMatchObject({
        code: 'TASK_ENDED',
      });
      expect(batch.terminated).toEqual([]);
      // Recorded as queued, but Batch had already finished it: it is recorded as it ended.
      batch.set('c', done(3));
      await expect(signals.cancelTask(job1, 'c', 'alice', raise)).rejects.toMatchObject({
        code: 'TASK_ENDED',
        details: { status: 'FAILED' },
      });
      expect((await statuses(id)).c).toBe('FAILED');
      await expect(signals.cancelTask(job1, 'zz', 'alice', raise)).rejects.toMatchObject({
        code: 'TASK_NOT_FOUND',
        status: 404,
      });
    });

    it('should ask to try again for a task Batch does not have yet, and keep no note of it', async () => {
      const id = await job('SUBMITTING_JOB');
      await expect(signals.cancelTask((await store.getJob(id))!, 'd', 'alice', raise)).rejects.toMatchObject({
        code: 'TASK_NOT_SUBMITTED',
        status: 409,
        retry: 'backoff',
      });
      expect(await store.tasksCancelledAlone(id)).toEqual(new Set());
      expect((await statuses(id)).d).toBe('PENDING');
    });
  });
});

import * as df from 'durable-functions';
import { beforeEach, describe, expect, it } from 'vitest';
import { createTestHost, DurableSimulation } from '../local/durableSimulation.js';
import {
  ACTIVITY,
  JOB_ORCHESTRATOR,
  type PreparedJob,
  type SettledTasks,
  type StatusChangeRequest,
  type StepResult,
} from '../../../shared/orchestration/activities.js';
import { jobOrchestrator } from '../../../shared/orchestration/jobOrchestrator.js';
import { JOB_SLOTS_ENTITY, jobSlotsEntity } from '../../../shared/orchestration/jobSlots.js';

import { emptySchedulerState } from '../../../infra/local/durable/entities.js';
import {
  SUBMIT_ORCHESTRATOR,
  submitTasksOrchestrator,
} from '../../../shared/orchestration/submitTasksOrchestrator.js';
import { SIGNAL_EVENT, type JobSignal } from '../../../shared/orchestration/signals.js';
import { TASK_STATUSES, type TaskStatus } from '../../../shared/domain/lifecycle.js';

/**
 * The real job orchestration, replayed by the real durable-functions SDK on the embedded
 * runtime's episode logic, in memory and on a virtual clock, with the activities played by a
 * scripted world: every lifecycle path in milliseconds, and what it asked of the world in order.
 */
const host = createTestHost();

interface World {
  prepared: PreparedJob;
  chunks: number;
  /** ensureBatchJob answers `blocked` this many times first. */
  blocked: number;
  /** settleTasks' counts at the end. */
  counts: Partial<Record<TaskStatus, number>>;
  exitCodes: Record<string, number>;
  /** An activity that throws every time (past its retries). */
  broken?: string;
  /** What tasksAllDone answers: the counts now, after tasks were added. */
  allDoneNow?: boolean;
  /** What processInputs answers instead of done. */
  processed?: StepResult<{ job: PreparedJob }>;
  /** The jobs activeJobs says have not ended (by default: all it is asked about). */
  active?: string[];
  /** Tasks each submitChunks call reports it did not add. */
  rejected?: Array<{ taskId: string; code: string; message: string }>;
  calls: Array<{ name: string; input: Record<string, unknown> }>;
  /** Runs as an activity is called: for news that arrives while the orchestration is busy. */
  during?: (name: string, input: Record<string, unknown>) => void;
}

let world: World;

const activity = <T>(name: string, answer: (input: Record<string, unknown>) => T) =>
  df.app.activity(name, {
    handler: (input: Record<string, unknown>) => {
      world.calls.push({ name, input });
      world.during?.(name, input);
      if (world.broken === name) throw new Error(`${name} is broken`);
      return answer(input);
    },
  });

activity(ACTIVITY.recordStatus, (input) => ({
  status: input.to,
  sequence: world.calls.length,
  changed: true,
}));
activity(ACTIVITY.processInputs, () => world.processed ?? { outcome: 'done', job: world.prepared });
activity(ACTIVITY.stageInputs, () => ({ outcome: 'done', chunks: world.chunks }));
activity(ACTIVITY.ensureBatchJob, () =>
  world.blocked-- > 0
    ? { outcome: 'blocked', code: 'BATCH_POOL_NOT_FOUND', message: 'pool cpu does not exist' }
    : { outcome: 'done', created: true },
);
activity(ACTIVITY.submitChunks, (input) => ({
  added: ((input.to as number) - (input.from as number)) * 100,
  existing: 0,
  rejected: world.rejected ?? [],
}));
activity(ACTIVITY.sealBatchJob, () => null);
activity(ACTIVITY.controlBatchJob, () => null);
activity(ACTIVITY.settleTasks, (): SettledTasks => ({
  counts: Object.fromEntries(TASK_STATUSES.map((s) => [s, world.counts[s] ?? 0])) as SettledTasks['counts'],
  exitCodes: world.exitCodes,
}));
activity(ACTIVITY.archiveOutputs, () => ({ files: 0, bytes: 0 }));
activity(ACTIVITY.tasksAllDone, () => world.allDoneNow ?? true);
activity(ACTIVITY.stageAddedTasks, (input) => Math.ceil((input.count as number) / 100));
activity(ACTIVITY.activeJobs, (input) =>
  (input.jobIds as string[]).filter((id) => world.active?.includes(id) ?? true),
);
activity(ACTIVITY.describePool, () => 'pool cpu has 0 of 2 dedicated and 0 of 0 Spot node(s) (resizing)');
df.app.orchestration(JOB_ORCHESTRATOR, jobOrchestrator);
df.app.entity(JOB_SLOTS_ENTITY, jobSlotsEntity);
df.app.orchestration(SUBMIT_ORCHESTRATOR, submitTasksOrchestrator);

const started: JobSignal = { type: 'tasks', started: true, allDone: false };
const allDone: JobSignal = { type: 'tasks', started: true, allDone: true };

describe('the job orchestration', () => {
  let sim: DurableSimulation;
  const start = (input: Record<string, unknown> = {}) =>
    sim.start(JOB_ORCHESTRATOR, { jobId: 'job-1', ...input }, 'job-1');
  const signal = (id: string, value: JobSignal) => sim.raise(id, SIGNAL_EVENT, value);
  /** The statuses recorded, in order, with the condition of the last. */
  const statuses = () =>
    world.calls
      .filter((c) => c.name === ACTIVITY.recordStatus)
      .map((c) => (c.input as StatusChangeRequest).to);
  const sequence = () => world.calls.map((c) => `${c.name} ${JSON.stringify(c.input)}`);
  const controls = () =>
    world.calls.filter((c) => c.name === ACTIVITY.controlBatchJob).map((c) => c.input.action as string);

  beforeEach(() => {
    sim = new DurableSimulation(host);
    world = {
      prepared: { taskCount: 3, pool: 'cpu', completeWhenTasksFinish: true },
      chunks: 1,
      blocked: 0,
      counts: { SUCCEEDED: 3 },
      exitCodes: {},
      calls: [],
    };
  });

  it('should walk a job through its lifecycle to FINISHED on the task milestones', async () => {
    const id = start();
    await sim.run();
    expect(statuses()).toEqual([
      'PROCESSING_INPUTS',
      'STAGING_INPUTS',
      'STAGING_JOB',
      'SUBMITTING_JOB',
      'QUEUED',
    ]);
    signal(id, started);
    await sim.run();
    expect(statuses().at(-1)).toBe('RUNNING');
    signal(id, allDone);
    await sim.run();
    expect(statuses().slice(-3)).toEqual(['RUNNING', 'ARCHIVING', 'FINISHED']);
    expect(sim.status(id)).toMatchObject({
      status: 'Completed',
      output: { status: 'FINISHED', condition: 'NORMAL_COMPLETION' },
    });
    // Sealed once all tasks were in, terminated at the end (an idle Batch job counts against quota).
    expect(world.calls.filter((c) => c.name === ACTIVITY.sealBatchJob)).toHaveLength(1);
    expect(controls()).toEqual(['terminate']);
    expect(world.calls.find((c) => c.name === ACTIVITY.settleTasks)?.input.leftover).toBe('SKIPPED');
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it('should go straight from QUEUED to ARCHIVING through RUNNING when the first news is that all is done', async () => {
    const id = start();
    signal(id, allDone);
    await sim.run();
    expect(statuses().slice(4)).toEqual(['QUEUED', 'RUNNING', 'ARCHIVING', 'FINISHED']);
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it('should fail with TASK_FAILED and the exit codes when tasks failed or were skipped', async () => {
    world.counts = { SUCCEEDED: 1, FAILED: 1, SKIPPED: 1 };
    world.exitCodes = { b: 3 };
    const id = start();
    signal(id, allDone);
    await sim.run();
    const failed = world.calls.filter((c) => c.name === ACTIVITY.recordStatus).at(-1)!.input;
    expect(failed).toMatchObject({ to: 'FAILED', condition: 'TASK_FAILED', exitCodes: { b: 3 } });
    expect(failed.message).toBe('1 failed, 1 skipped of 3 task(s)');
    expect(sim.status(id).output).toEqual({ status: 'FAILED', condition: 'TASK_FAILED' });
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it('should cancel: stop the Batch job, settle the rest as CANCELLED, and end CANCELLED', async () => {
    const id = start();
    signal(id, started);
    signal(id, { type: 'cancel', by: 'alice' });
    await sim.run();
    expect(statuses().slice(-2)).toEqual(['RUNNING', 'CANCELLED']);
    expect(controls()).toEqual(['terminate']);
    expect(world.calls.find((c) => c.name === ACTIVITY.settleTasks)?.input.leftover).toBe('CANCELLED');
    expect(sim.status(id).output).toEqual({ status: 'CANCELLED', condition: 'CANCELLED_BY_USER' });
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it('should pause and resume: disable and enable the Batch job, and come back to where it was', async () => {
    const id = start();
    signal(id, started);
    signal(id, { type: 'pause', by: 'alice' });
    await sim.run();
    expect(statuses().slice(-2)).toEqual(['RUNNING', 'PAUSED']);
    expect(controls()).toEqual(['disable']);
    // News while paused is kept: the job finishes once resumed.
    signal(id, allDone);
    signal(id, { type: 'pause', by: 'alice' });
    await sim.run();
    expect(statuses().at(-1)).toBe('PAUSED');
    signal(id, { type: 'resume', by: 'bob' });
    await sim.run();
    expect(statuses().slice(-4)).toEqual(['PAUSED', 'RUNNING', 'ARCHIVING', 'FINISHED']);
    expect(world.calls.filter((c) => c.name === ACTIVITY.recordStatus).at(-3)!.input.message).toBe(
      'resumed by bob',
    );
    expect(controls()).toEqual(['disable', 'enable', 'terminate']);
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it('should cancel a paused job', async () => {
    const id = start();
    signal(id, { type: 'pause', by: 'alice' });
    signal(id, { type: 'cancel', by: 'alice' });
    await sim.run();
    expect(statuses().slice(-3)).toEqual(['QUEUED', 'PAUSED', 'CANCELLED']);
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it('should wait BLOCKED with backoff until Batch is ready, then go on', async () => {
    world.blocked = 3;
    const id = start({ blockedRetry: { initialSeconds: 30, maxSeconds: 60 } });
    const before = sim.now;
    await sim.run();
    expect(statuses()).toEqual([
      'PROCESSING_INPUTS',
      'STAGING_INPUTS',
      'STAGING_JOB',
      'BLOCKED',
      'SUBMITTING_JOB',
      'QUEUED',
    ]);
    // 30 s, then 60 s, then 60 s (the cap).
    expect(sim.now - before).toBe(150_000);
    expect(world.calls.filter((c) => c.name === ACTIVITY.ensureBatchJob)).toHaveLength(4);
    signal(id, allDone);
    await sim.run();
    expect(statuses().at(-1)).toBe('FINISHED');
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it('should cancel a BLOCKED job without touching Batch, and hold one paused while blocked', async () => {
    world.blocked = 100;
    const id = start();
    signal(id, { type: 'pause', by: 'alice' });
    await sim.run();
    expect(statuses().slice(-2)).toEqual(['BLOCKED', 'PAUSED']);
    signal(id, { type: 'cancel', by: 'alice' });
    await sim.run();
    expect(statuses().at(-1)).toBe('CANCELLED');
    expect(controls()).toEqual([]);
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it('should fail QUEUED_TOO_LONG when no task starts within the limit, saying what the pool has', async () => {
    const id = start({ guards: { maxBlockedMinutes: 0, maxQueuedMinutes: 30 } });
    await sim.run();
    expect(statuses().slice(-2)).toEqual(['QUEUED', 'FAILED']);
    const last = world.calls.filter((c) => c.name === ACTIVITY.recordStatus).at(-1)!.input;
    expect(last).toMatchObject({
      condition: 'QUEUED_TOO_LONG',
      message:
        'no task started within 30 minute(s) of being queued: pool cpu has 0 of 2 dedicated and 0 of 0 Spot node(s) (resizing)',
    });
    expect(controls()).toEqual(['terminate']);
    expect(sim.status(id).output).toEqual({ status: 'FAILED', condition: 'QUEUED_TOO_LONG' });
    expect(sequence()).toMatchSnapshot();
  });

  it('should not fail a queued job whose tasks start in time, and restart the clock after a pause', async () => {
    // The job's own limit replaces the deployment's.
    world.prepared = { ...world.prepared, maxQueuedMinutes: 10 };
    const id = start({ guards: { maxBlockedMinutes: 0, maxQueuedMinutes: 1 } });
    await sim.runFor(6 * 60_000);
    signal(id, { type: 'pause', by: 'alice' });
    await sim.runFor(60 * 60_000);
    signal(id, { type: 'resume', by: 'alice' });
    // Six minutes queued before the pause, nine after: fifteen in all, but never ten at once.
    await sim.runFor(9 * 60_000);
    signal(id, started);
    await sim.runFor(1000);
    expect(statuses().slice(-4)).toEqual(['QUEUED', 'PAUSED', 'QUEUED', 'RUNNING']);
    signal(id, allDone);
    await sim.run();
    expect(statuses().at(-1)).toBe('FINISHED');
  });

  it('should fail BLOCKED_TOO_LONG once blocked past the limit, naming what it waited for', async () => {
    world.blocked = 100;
    world.prepared = { ...world.prepared, maxBlockedMinutes: 2 };
    const id = start({ blockedRetry: { initialSeconds: 30, maxSeconds: 60 } });
    const before = sim.now;
    await sim.run();
    expect(statuses().slice(-2)).toEqual(['BLOCKED', 'FAILED']);
    // Tried at 0, 30 and 90 s, then at the limit rather than a whole backoff later.
    expect(sim.now - before).toBe(120_000);
    expect(world.calls.filter((c) => c.name === ACTIVITY.ensureBatchJob)).toHaveLength(4);
    const last = world.calls.filter((c) => c.name === ACTIVITY.recordStatus).at(-1)!.input;
    expect(last).toMatchObject({
      condition: 'BLOCKED_TOO_LONG',
      message: 'blocked for 2 minute(s), waiting for BATCH_POOL_NOT_FOUND: pool cpu does not exist',
    });
    expect(sim.status(id).output).toEqual({ status: 'FAILED', condition: 'BLOCKED_TOO_LONG' });
  });

  it('should submit tasks added to an open job once each, and finish only when they are done too', async () => {
    world.prepared = { ...world.prepared, completeWhenTasksFinish: false };
    const id = start();
    signal(id, allDone);
    await sim.run();
    // Added after the first tasks were done: news of them being done is no longer true. The
    // second addition is heard of first; it waits for the first, whose tasks come before its own.
    signal(id, { type: 'tasksAdded', set: 2, first: 153, count: 1 });
    await sim.run();
    expect(world.calls.filter((c) => c.name === ACTIVITY.stageAddedTasks)).toEqual([]);
    signal(id, { type: 'tasksAdded', set: 1, first: 3, count: 150 });
    signal(id, { type: 'tasksAdded', set: 1, first: 3, count: 150 });
    await sim.run();
    expect(world.calls.filter((c) => c.name === ACTIVITY.stageAddedTasks).map((c) => c.input.set)).toEqual([
      1, 2,
    ]);
    const added = world.calls.filter((c) => c.name === ACTIVITY.submitChunks && c.input.set !== undefined);
    expect(added.map((c) => [c.input.set, c.input.from, c.input.to])).toEqual([
      [1, 0, 1],
      [1, 1, 2],
      [2, 0, 1],
    ]);
    signal(id, { type: 'complete', by: 'alice' });
    await sim.run();
    expect(statuses().at(-1)).toBe('RUNNING');
    // A stale "all done" (counted before the addition) is checked against the counts now.
    world.allDoneNow = false;
    signal(id, allDone);
    await sim.run();
    expect(statuses().at(-1)).toBe('RUNNING');
    world.allDoneNow = true;
    signal(id, allDone);
    await sim.run();
    expect(statuses().slice(-2)).toEqual(['ARCHIVING', 'FINISHED']);
    expect(world.calls.filter((c) => c.name === ACTIVITY.sealBatchJob)).toHaveLength(1);
    expect(sequence()).toMatchSnapshot();
  });

  it('should fail with TIMEOUT once the job runs past its limit', async () => {
    world.prepared = { ...world.prepared, timeoutMinutes: 5 };
    const id = start();
    signal(id, started);
    await sim.run();
    expect(statuses().slice(-2)).toEqual(['RUNNING', 'FAILED']);
    const last = world.calls.filter((c) => c.name === ACTIVITY.recordStatus).at(-1)!.input;
    expect(last).toMatchObject({ condition: 'TIMEOUT', message: 'ran longer than its 5 minute limit' });
    expect(controls()).toEqual(['terminate']);
    expect(sim.status(id).output).toEqual({ status: 'FAILED', condition: 'TIMEOUT' });
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it('should hear news that came while it was busy, after a wait that ended on its retry timer', async () => {
    // BLOCKED once: its wait for a signal or the retry ends on the timer. The tasks then all end
    // while the tasks are being submitted; that news must not wait for a second telling.
    world.blocked = 1;
    world.during = (name) => {
      if (name === ACTIVITY.submitChunks) signal('job-1', allDone);
    };
    const id = start();
    await sim.run();
    expect(statuses().slice(-4)).toEqual(['QUEUED', 'RUNNING', 'ARCHIVING', 'FINISHED']);
    expect(sim.status(id).status).toBe('Completed');
  });

  it('should end at its deadline even when the deadline passed while it was busy', async () => {
    world.prepared = { ...world.prepared, timeoutMinutes: 5 };
    // The clock passes the deadline during an activity: the timer fires while it waits for that.
    world.during = (name, input) => {
      if (name === ACTIVITY.recordStatus && input.to === 'QUEUED') sim.now += 6 * 60_000;
    };
    const id = start();
    signal(id, started);
    await sim.run();
    expect(statuses().slice(-2)).toEqual(['RUNNING', 'FAILED']);
    expect(sim.status(id).output).toEqual({ status: 'FAILED', condition: 'TIMEOUT' });
  });

  it('should wait for /complete when the job was opened with completeWhenTasksFinish false', async () => {
    world.prepared = { ...world.prepared, completeWhenTasksFinish: false };
    const id = start();
    signal(id, allDone);
    await sim.run();
    expect(statuses().at(-1)).toBe('RUNNING');
    expect(world.calls.filter((c) => c.name === ACTIVITY.sealBatchJob)).toHaveLength(0);
    signal(id, { type: 'complete', by: 'alice' });
    await sim.run();
    expect(world.calls.filter((c) => c.name === ACTIVITY.sealBatchJob)).toHaveLength(1);
    expect(statuses().slice(-2)).toEqual(['ARCHIVING', 'FINISHED']);
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it("should fail with the step's own condition when processing the inputs refuses the job", async () => {
    world.processed = {
      outcome: 'failed',
      failure: { condition: 'INVALID_INPUT', message: 'input a.csv is missing' },
    };
    const id = start();
    await sim.run();
    expect(statuses()).toEqual(['PROCESSING_INPUTS', 'FAILED']);
    expect(sim.status(id).output).toEqual({ status: 'FAILED', condition: 'INVALID_INPUT' });
    expect(controls()).toEqual([]);
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it('should fail BATCH_ERROR, naming the status, when an activity fails past its retries once Batch has the job', async () => {
    world.broken = ACTIVITY.sealBatchJob;
    const id = start();
    await sim.run();
    const last = world.calls.filter((c) => c.name === ACTIVITY.recordStatus).at(-1)!.input;
    expect(last).toMatchObject({ to: 'FAILED', condition: 'BATCH_ERROR' });
    expect(last.message).toMatch(/^stopped in QUEUED: /);
    expect(controls()).toEqual(['terminate']);
    expect(sim.status(id).output).toEqual({ status: 'FAILED', condition: 'BATCH_ERROR' });
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it.each([
    [
      ['SECRET_NOT_FOUND'],
      'INVALID_INPUT',
      /^1 task\(s\) name a secret their owner no longer has: t1: SECRET_NOT_FOUND/,
    ],
    [
      ['SECRET_NOT_FOUND', 'InvalidPropertyValue'],
      'BATCH_ERROR',
      /^Batch refused 2 task\(s\): t1: SECRET_NOT_FOUND/,
    ],
  ])(
    'should fail a job whose tasks were not added (%j) with %s, naming them',
    async (codes, condition, message) => {
      world.rejected = codes.map((code, i) => ({ taskId: `t${i + 1}`, code, message: 'why' }));
      const id = start();
      await sim.run();
      const last = world.calls.filter((c) => c.name === ACTIVITY.recordStatus).at(-1)!.input;
      expect(last).toMatchObject({ to: 'FAILED', condition });
      expect(last.message).toMatch(message);
      expect(sim.status(id).output).toEqual({ status: 'FAILED', condition });
    },
  );

  it('should ignore a malformed signal and go on', async () => {
    const id = start();
    sim.raise(id, SIGNAL_EVENT, { type: 'explode' });
    signal(id, allDone);
    await sim.run();
    expect(statuses().at(-1)).toBe('FINISHED');
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  it('should submit a very large job through sub-orchestrations, each with its share of the chunks', async () => {
    world.chunks = 2_500;
    const id = start({ submit: { chunksPerSubOrchestration: 1000 } });
    signal(id, allDone);
    await sim.run();
    const submitted = world.calls.filter((c) => c.name === ACTIVITY.submitChunks);
    const covered = submitted
      .map((c) => [c.input.from as number, c.input.to as number])
      .sort((a, b) => a[0]! - b[0]!);
    expect(covered[0]![0]).toBe(0);
    for (let i = 1; i < covered.length; i++) expect(covered[i]![0]).toBe(covered[i - 1]![1]);
    expect(covered.at(-1)![1]).toBe(2_500);
    // Three children (1,000 + 1,000 + 500 chunks), each with at most 64 activities.
    expect(submitted.length).toBeLessThanOrEqual(3 * 64);
    expect(sim.states.has('job-1-submit-2')).toBe(true);
    expect(statuses().at(-1)).toBe('FINISHED');
    // The activities asked for, in order: what a replay of this history must ask for again.
    expect(sequence()).toMatchSnapshot();
  });

  describe('with a limit on jobs per user (the job slots entity)', () => {
    const SLOTS = '@jobslots@ann';
    const withLimit = (jobId: string) =>
      sim.start(JOB_ORCHESTRATOR, { jobId, maxRunningJobsPerUser: 1 }, jobId);
    const statusesOf = (jobId: string) =>
      world.calls
        .filter((c) => c.name === ACTIVITY.recordStatus && c.input.jobId === jobId)
        .map((c) => c.input as StatusChangeRequest);
    const holders = () => (sim.entityState(SLOTS) as { holders: string[] } | undefined)?.holders;

    beforeEach(() => {
      world.prepared = { ...world.prepared, owner: 'ann' };
    });

    it('should let one of two jobs reaching STAGING_JOB at once onto Batch, and the other when it ends', async () => {
      const a = withLimit('job-a');
      const b = withLimit('job-b');
      // A blocked job retries for ever, so the clock runs a while rather than until all is done.
      await sim.runFor(60_000);
      const ensured = () =>
        world.calls.filter((c) => c.name === ACTIVITY.ensureBatchJob).map((c) => c.input.jobId);
      // Exactly one made its Batch job; the other waits BLOCKED on the limit, not on Batch.
      expect(ensured()).toHaveLength(1);
      const [first, second] = ensured()[0] === 'job-a' ? [a, b] : [b, a];
      expect(statusesOf(second).at(-1)).toMatchObject({ to: 'BLOCKED' });
      expect(statusesOf(second).at(-1)!.message).toBe(
        `USER_JOB_LIMIT: its owner already has 1 job(s) on Batch, the most allowed (1): ${first}; it starts when one ends`,
      );
      expect(holders()).toEqual([first]);

      signal(first, allDone);
      await sim.runFor(15 * 60_000);
      expect(statusesOf(first).at(-1)!.to).toBe('FINISHED');
      expect(ensured()).toEqual([first, second]);
      expect(statusesOf(second).at(-1)!.to).toBe('QUEUED');
      expect(holders()).toEqual([second]);
      signal(second, allDone);
      await sim.run();
      expect(holders()).toEqual([]);
    });

    it('should give the slot back when a job holding it is cancelled, and not when one waiting for it is', async () => {
      const a = withLimit('job-a');
      await sim.run();
      const b = withLimit('job-b');
      await sim.runFor(60_000);
      expect(holders()).toEqual([a]);
      signal(b, { type: 'cancel', by: 'ann' });
      await sim.runFor(60_000);
      expect(statusesOf(b).at(-1)!.to).toBe('CANCELLED');
      expect(holders()).toEqual([a]);
      signal(a, { type: 'cancel', by: 'ann' });
      await sim.run();
      expect(holders()).toEqual([]);
    });

    it('should take back a slot held by a job that ended without giving it back', async () => {
      // "gone" took a slot, then its orchestration was terminated by hand: it ended, holding it.
      const scheduler = emptySchedulerState();
      scheduler.exists = true;
      scheduler.state = JSON.stringify({ holders: ['gone'] });
      sim.entities.set(SLOTS, scheduler);
      world.active = [];
      const id = withLimit('job-a');
      await sim.run();
      expect(statusesOf(id).map((s) => s.to)).not.toContain('BLOCKED');
      expect(world.calls.find((c) => c.name === ACTIVITY.activeJobs)?.input).toEqual({ jobIds: ['gone'] });
      expect(holders()).toEqual([id]);
    });

    it('should not ask for a slot when the deployment sets no limit or the job predates owners', async () => {
      start({ maxRunningJobsPerUser: 0 });
      await sim.run();
      world.prepared = { ...world.prepared, owner: undefined };
      sim.start(JOB_ORCHESTRATOR, { jobId: 'old', maxRunningJobsPerUser: 1 }, 'old');
      await sim.run();
      expect(sim.entities.size).toBe(0);
      expect(statusesOf('old').at(-1)!.to).toBe('QUEUED');
    });
  });
});

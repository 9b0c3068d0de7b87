import { describe, expect, it } from 'vitest';
import * as df from 'durable-functions';
import type { OrchestrationContext } from 'durable-functions';
import { createTestHost, DurableSimulation } from './durableSimulation.js';
import { EventType } from '../../../infra/local/durable/history.js';

const host = createTestHost();

const attempts = new Map<string, number>();
df.app.activity('double', { handler: (n: number) => n * 2 });
df.app.activity('echo', { handler: (value: unknown) => value });
df.app.activity('flaky', {
  handler: (input: { key: string; failures: number }) => {
    const attempt = (attempts.get(input.key) ?? 0) + 1;
    attempts.set(input.key, attempt);
    if (attempt <= input.failures) throw new Error(`${input.key} attempt ${attempt} failed`);
    return `${input.key} ok on ${attempt}`;
  },
});

df.app.orchestration('fanOutSum', function* (context: OrchestrationContext) {
  const n = context.df.getInput<number>();
  const results = (yield context.df.Task.all(
    Array.from({ length: n }, (_, i) => context.df.callActivity('double', i)),
  )) as number[];
  return results.reduce((a, b) => a + b, 0);
});

df.app.orchestration('retryMix', function* (context: OrchestrationContext) {
  const run = context.df.getInput<string>();
  const options = new df.RetryOptions(1000, 3);
  options.backoffCoefficient = 2;
  const recovering = context.df.callActivityWithRetry('flaky', options, { key: `${run}-a`, failures: 2 });
  const plain = context.df.callActivity('double', 21);
  const other = context.df.callActivityWithRetry('flaky', options, { key: `${run}-b`, failures: 1 });
  const results = (yield context.df.Task.all([recovering, plain, other])) as unknown[];
  let exhausted: string;
  try {
    yield context.df.callActivityWithRetry('flaky', options, { key: `${run}-c`, failures: 5 });
    exhausted = 'no';
  } catch (error) {
    exhausted = (error as Error).message;
  }
  const last = (yield context.df.callActivity('echo', 'last')) as string;
  return { results, exhausted, last, at: context.df.currentUtcDateTime.toISOString() };
});

df.app.orchestration('flakyChild', function* (context: OrchestrationContext) {
  return (yield context.df.callActivity('flaky', context.df.getInput())) as string;
});

df.app.orchestration('retriedChild', function* (context: OrchestrationContext) {
  const { key, childId } = context.df.getInput<{ key: string; childId?: string }>();
  const options = new df.RetryOptions(1000, 3);
  return (yield context.df.callSubOrchestratorWithRetry(
    'flakyChild',
    options,
    { key, failures: 2 },
    childId,
  )) as string;
});

df.app.orchestration('scheduledTwice', function* (context: OrchestrationContext) {
  const first = context.df.callActivity('double', 1);
  const alone = (yield first) as number;
  const both = (yield context.df.Task.all([first, context.df.callActivity('double', 2)])) as number[];
  return { alone, both };
});

df.app.orchestration('eventOrTimer', function* (context: OrchestrationContext) {
  const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 60_000));
  const event = context.df.waitForExternalEvent('go');
  const winner = (yield context.df.Task.any([event, timer])) as unknown;
  return winner === event ? { got: event.result } : 'timeout';
});

df.app.orchestration('subParent', function* (context: OrchestrationContext) {
  const results = (yield context.df.Task.all([
    context.df.callSubOrchestrator('fanOutSum', 3),
    context.df.callSubOrchestrator('fanOutSum', 4, `${context.df.instanceId}-four`),
  ])) as number[];
  return results;
});

df.app.orchestration('continueCounter', function* (context: OrchestrationContext) {
  const n = context.df.getInput<number>();
  const next = (yield context.df.callActivity('echo', n + 1)) as number;
  if (next < 4) {
    context.df.continueAsNew(next);
    return undefined;
  }
  return next;
});

df.app.orchestration('twoChildren', function* (context: OrchestrationContext) {
  return (yield context.df.Task.all([
    context.df.callSubOrchestrator('continueCounter', 0, `${context.df.instanceId}-counter`),
    context.df.callSubOrchestrator('fanOutSum', 3, `${context.df.instanceId}-sum`),
  ])) as number[];
});

df.app.orchestration('waitForGo', function* (context: OrchestrationContext) {
  return (yield context.df.waitForExternalEvent('go')) as unknown;
});

df.app.orchestration('claimChild', function* (context: OrchestrationContext) {
  try {
    return (yield context.df.callSubOrchestrator(
      'waitForGo',
      null,
      context.df.getInput<string>(),
    )) as unknown;
  } catch (error) {
    return (error as Error).message;
  }
});

let flip = false;
df.app.orchestration('nonDeterministic', function* (context: OrchestrationContext) {
  flip = !flip;
  yield context.df.callActivity(flip ? 'double' : 'echo', 1);
  yield context.df.callActivity('echo', 2);
  return 'done';
});

describe.each(['all', 'one'] as const)('durable episodes (messages taken %s at a time)', (batching) => {
  it('should fan out and fan in', async () => {
    const sim = new DurableSimulation(host, batching);
    const id = sim.start('fanOutSum', 50);
    await sim.run();
    expect(sim.status(id)).toMatchObject({ status: 'Completed', output: 2450 });
  });

  it('should number retries the way the SDK does, with timers on the backoff schedule', async () => {
    const sim = new DurableSimulation(host, batching);
    const run = `${batching}-${Math.random().toString(36).slice(2)}`;
    const started = sim.now;
    const id = sim.start('retryMix', run);
    await sim.run();
    const { status, output, history } = sim.status(id);
    expect(status).toBe('Completed');
    expect(output).toMatchObject({
      results: [`${run}-a ok on 3`, 42, `${run}-b ok on 2`],
      exhausted: expect.stringContaining(`${run}-c attempt 3 failed`) as string,
      last: 'last',
    });
    // Scheduling ids are contiguous and every completion names a scheduled id.
    const scheduled = history.filter(
      (e) => e.EventType === EventType.TaskScheduled || e.EventType === EventType.TimerCreated,
    );
    expect(scheduled.map((e) => e.EventId).sort((a, b) => a - b)).toEqual(scheduled.map((_, i) => i));
    const retryTimers = history.filter((e) => e.EventType === EventType.TimerCreated);
    const delays = retryTimers.map((e) => Date.parse(e.FireAt!) - Date.parse(e.Timestamp));
    // a: 1 s, 2 s; b: 1 s; c: 1 s, 2 s, and 4 s after its last attempt before the failure is
    // reported, as Durable Task waits it.
    expect(delays.sort((x, y) => x - y)).toEqual([1000, 1000, 1000, 2000, 2000, 4000]);
    expect(Date.parse((output as { at: string }).at) - started).toBeGreaterThanOrEqual(7000);
  });

  it.each([
    ['an id the orchestrator chose, even one shaped like a generated one', true],
    ['a generated id', false],
  ])('should retry a sub-orchestration under %s', async (_, chosen) => {
    const sim = new DurableSimulation(host, batching);
    const parent = `parent-${Math.random().toString(36).slice(2)}`;
    const key = `${parent}-child`;
    // `<parent>:0` is also what the runtime would generate for the first attempt's task id.
    sim.start('retriedChild', { key, ...(chosen ? { childId: `${parent}:0` } : {}) }, parent);
    await sim.run();
    const { status, output, history } = sim.status(parent);
    expect({ status, output }).toEqual({ status: 'Completed', output: `${key} ok on 3` });
    const children = history
      .filter((e) => e.EventType === EventType.SubOrchestrationInstanceCreated)
      .map((e) => e.InstanceId);
    expect(children).toEqual(
      chosen ? [`${parent}:0`, `${parent}:0`, `${parent}:0`] : [`${parent}:0`, `${parent}:2`, `${parent}:4`],
    );
    if (chosen)
      expect(sim.status(`${parent}:0`)).toMatchObject({ status: 'Completed', output: `${key} ok on 3` });
  });

  it('should schedule a task once when it is yielded alone and then inside Task.all', async () => {
    const sim = new DurableSimulation(host, batching);
    const id = sim.start('scheduledTwice', null);
    await sim.run();
    expect(sim.status(id)).toMatchObject({ status: 'Completed', output: { alone: 2, both: [2, 4] } });
    expect(sim.activityCalls.filter((c) => c.name === 'double')).toHaveLength(2);
  });

  it('should let an event win over a timer, and a timer win when no event comes', async () => {
    const sim = new DurableSimulation(host, batching);
    const early = sim.start('eventOrTimer', null);
    const late = sim.start('eventOrTimer', null);
    sim.raise(early, 'go', { yes: true });
    await sim.run();
    expect(sim.status(early).output).toEqual({ got: { yes: true } });
    expect(sim.status(late).output).toBe('timeout');
  });

  it('should apply a completion delivered twice only once', async () => {
    const sim = new DurableSimulation(host, batching);
    const id = sim.start('fanOutSum', 2);
    await sim.run();
    const history = sim.status(id).history;
    const completions = history.filter((e) => e.EventType === EventType.TaskCompleted);
    expect(completions).toHaveLength(2);
    // Deliver one of them again, as a queue would after a lost delete.
    sim.deliver(
      { id: 'again', instanceId: id, event: { ...completions[0]!, MessageId: undefined } },
      sim.now,
      true,
    );
    await sim.run();
    expect(sim.status(id).history.filter((e) => e.EventType === EventType.TaskCompleted)).toHaveLength(2);
  });

  it('should run sub-orchestrations and report to the parent', async () => {
    const sim = new DurableSimulation(host, batching);
    const id = sim.start('subParent', null, `parent-${batching}`);
    await sim.run();
    expect(sim.status(id)).toMatchObject({ status: 'Completed', output: [6, 12] });
    expect(sim.status(`parent-${batching}-four`).status).toBe('Completed');
  });

  it('should continue as new with a fresh history each time', async () => {
    const sim = new DurableSimulation(host, batching);
    const id = sim.start('continueCounter', 0);
    await sim.run();
    const { status, output, history } = sim.status(id);
    expect({ status, output }).toEqual({ status: 'Completed', output: 4 });
    expect(history.filter((e) => e.EventType === EventType.ExecutionStarted)).toHaveLength(1);
  });

  it('should fail an orchestration whose replay schedules different work', async () => {
    const sim = new DurableSimulation(host, batching);
    const id = sim.start('nonDeterministic', null);
    await sim.run();
    const { status, output } = sim.status(id);
    expect(status).toBe('Failed');
    expect(output).toMatch(
      /Non-deterministic workflow detected: task 0 called "(double|echo)" and now calls/,
    );
  });

  it('should leave a child running when the parent episode that created it runs again after a crash', async () => {
    const sim = new DurableSimulation(host, batching);
    const id = `parent-${Math.random().toString(36).slice(2)}`;
    sim.crashAfterSending(id, 1);
    sim.start('twoChildren', null, id);
    await sim.run();
    expect(sim.status(id)).toMatchObject({ status: 'Completed', output: [4, 6] });
    // Each child ran once: the second creation found it running and left it alone.
    expect(sim.activityCalls.filter((c) => c.name === 'double')).toHaveLength(3);
    expect(sim.activityCalls.filter((c) => c.name === 'echo')).toHaveLength(4);
  });

  it("should send a finished child's outcome again when the parent episode that created it runs again after a crash", async () => {
    const sim = new DurableSimulation(host, batching);
    const id = `parent-${Math.random().toString(36).slice(2)}`;
    // The children finish (and report to a parent with nothing committed) before it runs again.
    sim.crashAfterSending(id, 1, 60_000);
    sim.start('twoChildren', null, id);
    await sim.run();
    expect(sim.status(id)).toMatchObject({ status: 'Completed', output: [4, 6] });
    expect(sim.status(`${id}-counter`).status).toBe('Completed');
    expect(sim.activityCalls.filter((c) => c.name === 'double')).toHaveLength(3);
    expect(sim.activityCalls.filter((c) => c.name === 'echo')).toHaveLength(4);
  });

  it('should continue as new once when the episode that continued runs again after a crash', async () => {
    const sim = new DurableSimulation(host, batching);
    const id = `parent-${Math.random().toString(36).slice(2)}`;
    // The counter's second session is the one that continues as new.
    sim.crashAfterSending(`${id}-counter`, 2);
    sim.start('twoChildren', null, id);
    await sim.run();
    expect(sim.status(id)).toMatchObject({ status: 'Completed', output: [4, 6] });
    const counter = sim.status(`${id}-counter`);
    expect({ status: counter.status, output: counter.output }).toEqual({ status: 'Completed', output: 4 });
  });

  it("should refuse to create a child under an id that another parent's child is running under", async () => {
    const sim = new DurableSimulation(host, batching);
    const child = `child-${Math.random().toString(36).slice(2)}`;
    const first = sim.start('claimChild', child);
    await sim.run();
    const second = sim.start('claimChild', child);
    await sim.run();
    expect(sim.status(second)).toMatchObject({
      status: 'Completed',
      output: expect.stringContaining(
        `An orchestration with instance ID '${child}' is already running.`,
      ) as string,
    });
    expect(sim.status(first).status).toBe('Running');
    sim.raise(child, 'go', 'went');
    await sim.run();
    expect(sim.status(first)).toMatchObject({ status: 'Completed', output: 'went' });
  });
});

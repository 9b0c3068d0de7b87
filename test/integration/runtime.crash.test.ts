import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ROOT, RuntimeProcess, uniqueName } from '../support/runtimeProcess.js';
import { readStatus, startOrchestration, waitForCompletion } from '../support/durable.js';
import { waitFor } from '../support/waitFor.js';

const APP = path.join(ROOT, 'test/integration/fixtures/conformance');
const COUNT = 600;

describe('embedded runtime: crash and restart', () => {
  const namespace = uniqueName('crash');
  const first = new RuntimeProcess({ app: APP, storage: inject('azurite'), namespace });
  const second = new RuntimeProcess({ app: APP, storage: inject('azurite'), namespace });

  afterAll(async () => {
    await first.dispose();
    await second.dispose();
  });

  it('should finish a fan-out killed with SIGKILL mid-way, with every activity result and the pending timer', async () => {
    await first.start();
    const id = await startOrchestration(first, 'crashFanOut', { count: COUNT, timerSeconds: 4 });

    // Kill once a good share of activities ran but well before all did (and before the timer).
    const ranBeforeKill = await waitFor(
      async () => {
        const ran = await first.json<number[]>('/api/records/slowSquare');
        return ran.length >= 100 ? ran.length : undefined;
      },
      { intervalMs: 10, what: 'activities to start running' },
    );
    await first.kill();
    expect(ranBeforeKill).toBeLessThan(COUNT);

    await second.start();
    const status = await waitForCompletion(second, id, 120_000);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({
      results: Array.from({ length: COUNT }, (_, i) => i * i),
      after: COUNT * COUNT,
    });

    // Every activity completed exactly once in the history, whatever ran twice across the crash.
    const history = (await readStatus(second, id, true))!.historyEvents!;
    const completions = history.filter(
      (e) => e.EventType === 'TaskCompleted' && e.FunctionName === 'slowSquare',
    );
    expect(completions).toHaveLength(COUNT);
    expect(history.filter((e) => e.EventType === 'TaskScheduled')).toHaveLength(0);
    expect(history.filter((e) => e.EventType === 'TimerFired')).toHaveLength(1);
    const ranAfter = await second.json<number[]>('/api/records/slowSquare');
    // Only activities whose results were not yet recorded ran again.
    expect(ranBeforeKill + ranAfter.length).toBeGreaterThanOrEqual(COUNT);
  });

  it('should finish mixed work (fan-out, sub-orchestrations, timers, continue-as-new) through repeated SIGKILLs', async () => {
    const space = uniqueName('chaos');
    const runtimes: RuntimeProcess[] = [];
    const spawnRuntime = async () => {
      const runtime = new RuntimeProcess({
        app: APP,
        storage: inject('azurite'),
        namespace: space,
        args: ['--log-level', 'debug'],
      });
      runtimes.push(runtime);
      await runtime.start();
      return runtime;
    };
    try {
      let runtime = await spawnRuntime();
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push(await startOrchestration(runtime, 'chaosMix', null));
      // Kill at a different point of the work each time; whatever the timing, nothing may be lost.
      for (const delay of [400, 900, 1500]) {
        await new Promise((resolve) => setTimeout(resolve, delay + Math.floor(Math.random() * 300)));
        await runtime.kill();
        runtime = await spawnRuntime();
      }
      const expected = {
        sum: Array.from({ length: 150 }, (_, i) => i * i).reduce((a, b) => a + b, 0),
        children: [0, 1, 4, 9],
        counted: 3,
      };
      for (const id of ids) {
        const status = await waitForCompletion(runtime, id, 60_000).catch(async (error: unknown) => {
          // Say where it stopped: the instance's history and what the runtimes printed.
          const stuck = await readStatus(runtime, id, true).catch(() => undefined);
          const children = await Promise.all(
            (stuck?.historyEvents ?? [])
              .filter((e) => e.EventType === 'SubOrchestrationInstanceCreated')
              .map((e) => readStatus(runtime, String(e.InstanceId), true).catch(() => undefined)),
          );
          throw new Error(
            `${String(error)}\n--- status ---\n${JSON.stringify(stuck, null, 1)}\n` +
              `--- children ---\n${JSON.stringify(children, null, 1)}\n` +
              runtimes.map((r, i) => `--- runtime ${i} ---\n${r.output.slice(-20_000)}`).join('\n'),
          );
        });
        expect(status).toMatchObject({ runtimeStatus: 'Completed', output: expected });
        const history = (await readStatus(runtime, id, true))!.historyEvents!;
        expect(history.filter((e) => e.EventType === 'TaskCompleted')).toHaveLength(150);
        expect(history.filter((e) => e.EventType === 'SubOrchestrationInstanceCompleted')).toHaveLength(5);
        expect(
          history.filter((e) =>
            ['TaskScheduled', 'SubOrchestrationInstanceCreated', 'TimerCreated'].includes(
              String(e.EventType),
            ),
          ),
        ).toHaveLength(0);
      }
    } finally {
      for (const runtime of runtimes) await runtime.dispose();
    }
  });

  it('should apply every entity operation once and in order through repeated SIGKILLs', async () => {
    const space = uniqueName('entities');
    const runtimes: RuntimeProcess[] = [];
    const spawnRuntime = async () => {
      const runtime = new RuntimeProcess({ app: APP, storage: inject('azurite'), namespace: space });
      runtimes.push(runtime);
      await runtime.start();
      return runtime;
    };
    const key = 'survivor';
    const sequence = (tag: string, count: number) => Array.from({ length: count }, (_, i) => `${tag}:${i}`);
    try {
      let runtime = await spawnRuntime();
      // Signals across many episodes (one per activity), in one episode with a call after them,
      // and from entity to entity (a ledger forwarding to this one).
      const ids = [
        ...(await Promise.all(
          ['s0', 's1', 's2'].map((tag) =>
            startOrchestration(runtime, 'signalLedgerSlowly', { key, count: 40, tag }),
          ),
        )),
        ...(await Promise.all(
          ['b0', 'b1'].map((tag) => startOrchestration(runtime, 'signalLedger', { key, count: 60, tag })),
        )),
      ];
      for (let i = 0; i < 15; i++) {
        const response = await runtime.fetch(
          `/runtime/webhooks/durabletask/entities/ledger/relay?op=forward`,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ to: key, value: `fwd:${i}` }),
          },
        );
        expect(response.status).toBe(202);
      }
      for (const delay of [150, 500, 900]) {
        await new Promise((resolve) => setTimeout(resolve, delay + Math.floor(Math.random() * 200)));
        await runtime.kill();
        runtime = await spawnRuntime();
      }
      for (const id of ids) {
        expect((await waitForCompletion(runtime, id, 60_000)).runtimeStatus).toBe('Completed');
      }
      const total = 3 * 40 + 2 * 60 + 15;
      const entries = await waitFor(
        async () => {
          const response = await runtime.fetch(`/runtime/webhooks/durabletask/entities/ledger/${key}`);
          const state = response.status === 200 ? ((await response.json()) as string[]) : [];
          return state.length >= total ? state : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: `the ledger to hold ${total} entries` },
      );
      expect(entries).toHaveLength(total);
      for (const [tag, count] of [
        ['s0', 40],
        ['s1', 40],
        ['s2', 40],
        ['b0', 60],
        ['b1', 60],
        ['fwd', 15],
      ] as const) {
        expect(entries.filter((e) => e.startsWith(`${tag}:`))).toEqual(sequence(tag, count));
      }
    } finally {
      for (const runtime of runtimes) await runtime.dispose();
    }
  });
});

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
});

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../support/freePort.js';
import { ENDED, jobClient } from '../support/jobClient.js';
import { ROOT, RuntimeProcess, uniqueName } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';

const COUNT = 2000;

describe('the runtime killed with SIGKILL in the middle of a job', () => {
  let runtime: RuntimeProcess;

  beforeAll(async () => {
    // The same ports after the restart, as Azure's endpoints stay put: the job's plan holds URLs.
    const [batchPort, blobPort] = [await freePort(), await freePort()];
    runtime = new RuntimeProcess({
      app: ROOT,
      storage: inject('azurite'),
      env: { CLOUDJOBS_TABLE_PREFIX: uniqueName('k') },
      args: ['--batch-port', String(batchPort), '--blob-port', String(blobPort), '--batch-slots', '12'],
    });
    await runtime.start();
  });
  afterAll(async () => {
    await runtime.dispose();
  });

  it('should finish the job after a restart, with no task lost or counted twice', async () => {
    const api = jobClient(runtime);
    const id = await api.submit({ name: 'crash', sweep: { command: 'sleep 0.05', range: [1, COUNT] } });
    const before = await waitFor(
      async () => {
        const job = await api.job(id);
        return job.taskCounts.SUCCEEDED >= COUNT / 3 ? job : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100, what: 'a third of the tasks to succeed' },
    );
    await runtime.kill();
    expect(before.taskCounts.SUCCEEDED).toBeLessThan(COUNT);

    await runtime.start();
    const done = await api.until(id, ENDED, 240_000);
    expect(done.status).toBe('FINISHED');
    expect(done.taskCounts.SUCCEEDED).toBe(COUNT);
    expect(Object.values(done.taskCounts).reduce((a, b) => a + b)).toBe(COUNT);
    const tasks = await api.tasks(id);
    expect(Object.keys(tasks)).toHaveLength(COUNT);
    expect(Object.values(tasks).filter((task) => task.status !== 'SUCCEEDED')).toEqual([]);
    const statuses = (await api.history(id)).map((entry) => entry.status);
    expect(statuses).toEqual([...new Set(statuses)]);
    expect(statuses.at(-1)).toBe('FINISHED');
  });
});

import { describe, expect, inject, it } from 'vitest';
import { ENDED, jobClient } from '../support/jobClient.js';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';

describe('task signals lost on the way', () => {
  // Every task log event is dropped: only the reconcile timer can see the tasks end.
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: { CLOUDJOBS_TABLE_PREFIX: uniqueName('l') },
    args: ['--delivery-faults', JSON.stringify({ eventGridDropRate: 1 })],
  });
  const api = jobClient(runtime);

  it('should still finish the job, through reconciliation with Batch', async () => {
    const tasks = [
      ...Array.from({ length: 20 }, (_, i) => ({ id: `t${i}`, command: `echo ${i}` })),
      { id: 'last', command: 'echo last', dependsOn: ['t0', 't19'] },
    ];
    const id = await api.submit({ name: 'lost', tasks });
    const done = await api.until(id, ENDED, 90_000);
    expect(done).toMatchObject({ status: 'FINISHED', condition: 'NORMAL_COMPLETION' });
    expect(done.taskCounts.SUCCEEDED).toBe(21);
    const byId = await api.tasks(id);
    expect(byId.last).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    expect((await api.history(id)).map((entry) => entry.status).slice(-3)).toEqual([
      'RUNNING',
      'ARCHIVING',
      'FINISHED',
    ]);
    expect(runtime.output).toMatch(/reconciled \d+ job\(s\): 1 repaired/);
  });

  it('should fail a job whose orchestration was terminated by hand, instead of leaving it waiting', async () => {
    const id = await api.submit({ name: 'orphan', tasks: [{ id: 'long', command: 'sleep 120' }] });
    await api.until(id, ['QUEUED', 'RUNNING']);
    const terminated = await runtime.fetch(
      `/runtime/webhooks/durabletask/instances/${id}/terminate?reason=operator`,
      { method: 'POST' },
    );
    expect(terminated.status).toBe(202);
    const done = await api.until(id, ENDED, 60_000);
    expect(done).toMatchObject({ status: 'FAILED', condition: 'INTERNAL_ERROR' });
    expect(done.message).toMatch(/its orchestration ended while it was (QUEUED|RUNNING)/);
  });
});

import { describe, expect, inject, it } from 'vitest';
import { ENDED, jobClient } from '../support/jobClient.js';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';

describe('every Event Grid event and Service Bus message delivered twice', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: { CLOUDJOBS_TABLE_PREFIX: uniqueName('d') },
    args: ['--delivery-faults', JSON.stringify({ eventGridDuplicateRate: 1, serviceBusDuplicateRate: 1 })],
  });
  const api = jobClient(runtime);

  it('should still count every task once and record every state once, in order', async () => {
    const tasks = [
      ...Array.from({ length: 30 }, (_, i) => ({ id: `t${i}`, command: `echo ${i}` })),
      { id: 'fails', command: 'exit 7', runDependentsOnFailure: true },
      { id: 'after', command: 'echo after', dependsOn: ['fails', 't0', 't29'] },
    ];
    const id = await api.submit({ name: 'twice', tasks });
    const done = await api.until(id, ENDED);
    expect(done).toMatchObject({ status: 'FAILED', condition: 'TASK_FAILED', exitCodes: { fails: 7 } });
    expect(done.taskCounts).toEqual({
      PENDING: 0,
      QUEUED: 0,
      RUNNING: 0,
      SUCCEEDED: 31,
      FAILED: 1,
      SKIPPED: 0,
      CANCELLED: 0,
    });
    const history = await api.history(id);
    expect(history.map((entry) => entry.status)).toEqual([
      'PENDING',
      'PROCESSING_INPUTS',
      'STAGING_INPUTS',
      'STAGING_JOB',
      'SUBMITTING_JOB',
      'QUEUED',
      'RUNNING',
      'ARCHIVING',
      'FAILED',
    ]);
    expect(history.map((entry) => entry.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const task of Object.values(await api.tasks(id))) expect(task.attempt).toBe(1);
    // The faults did strike: every status change's job-events message is there twice.
    const queue = await runtime.json<{ active: number }>('/admin/local/servicebus/queues/job-events');
    expect(queue.active).toBe(2 * (history.length - 1));
  });
});

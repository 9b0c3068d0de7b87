import { describe, expect, inject, it } from 'vitest';
import { ENDED, jobClient } from '../support/jobClient.js';
import { readStatus } from '../support/durable.js';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef';

describe('a deployment’s limits: jobs running at once per user, fixed pools', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: {
      CLOUDJOBS_API_TOKENS: `alice=${ALICE},bob=${BOB}`,
      CLOUDJOBS_TABLE_PREFIX: uniqueName('u'),
      CLOUDJOBS_MAX_RUNNING_JOBS_PER_USER: '1',
      CLOUDJOBS_BLOCKED_RETRY_INITIAL_SECONDS: '1',
      CLOUDJOBS_BLOCKED_RETRY_MAX_SECONDS: '2',
      CLOUDJOBS_CHUNKS_PER_SUB_ORCHESTRATION: '2',
      CLOUDJOBS_POOLS_FIXED: 'true',
    },
  });
  const alice = jobClient(runtime, ALICE);
  const bob = jobClient(runtime, BOB);

  it('should hold a user’s second job BLOCKED until the first ends, and not hold anyone else’s', async () => {
    const first = await alice.submit({ name: 'first', tasks: [{ id: 'long', command: 'sleep 120' }] });
    await alice.until(first, ['QUEUED', 'RUNNING']);
    const second = await alice.submit({ name: 'second', tasks: [{ id: 'a', command: 'echo second' }] });
    const blocked = await alice.until(second, ['BLOCKED', ...ENDED]);
    expect(blocked.status).toBe('BLOCKED');
    expect(blocked.message).toMatch(/^USER_JOB_LIMIT: /);
    // It names the job holding the slot: the one to wait for, or to cancel.
    expect(blocked.message).toContain(first);

    const others = await bob.submit({ name: 'bobs', tasks: [{ id: 'b', command: 'echo bob' }] });
    expect((await bob.until(others, ENDED)).status).toBe('FINISHED');
    expect((await alice.job(second)).status).toBe('BLOCKED');

    expect((await alice.call('POST', `/jobs/${first}/cancel`)).status).toBe(202);
    expect((await alice.until(second, ENDED)).status).toBe('FINISHED');
    expect((await alice.job(first)).status).toBe('CANCELLED');
  });

  it('should let exactly one of two jobs submitted at the same instant onto Batch, the other after it', async () => {
    // Before the slots entity, both could pass the check in STAGING_JOB at once (each saw none running).
    const ids = await Promise.all(
      ['twin-a', 'twin-b'].map((name) => alice.submit({ name, tasks: [{ id: 't', command: 'sleep 2' }] })),
    );
    for (const id of ids) expect((await alice.until(id, ENDED, 90_000)).status).toBe('FINISHED');
    const histories = await Promise.all(ids.map((id) => alice.history(id)));
    const onBatch = histories.map((entries) => {
      const submitting = entries.find((e) => e.status === 'SUBMITTING_JOB')!;
      const archiving = entries.find((e) => e.status === 'ARCHIVING')!;
      return { from: Date.parse(submitting.at), to: Date.parse(archiving.at), entries };
    });
    const [first, second] = onBatch[0]!.from <= onBatch[1]!.from ? onBatch : [onBatch[1]!, onBatch[0]!];
    // The second waited BLOCKED on the limit and reached Batch only once the first left it.
    expect(second!.entries.some((e) => e.status === 'BLOCKED' && /^USER_JOB_LIMIT/.test(e.message))).toBe(
      true,
    );
    expect(first!.entries.some((e) => e.status === 'BLOCKED')).toBe(false);
    expect(second!.from).toBeGreaterThanOrEqual(first!.to);
  });

  it('should submit a job of more chunks than one orchestration takes through sub-orchestrations', async () => {
    // 450 tasks are 5 chunks of at most 100; 2 chunks per orchestration makes 3 sub-orchestrations.
    const id = await bob.submit({ name: 'large', sweep: { command: 'true', range: [1, 450] } });
    const done = await bob.until(id, ENDED, 120_000);
    expect(done).toMatchObject({ status: 'FINISHED' });
    expect(done.taskCounts.SUCCEEDED).toBe(450);
    for (const child of [0, 1, 2]) {
      const status = await readStatus(runtime, `${id}-submit-${child}`);
      expect(status?.runtimeStatus, `sub-orchestration ${child}`).toBe('Completed');
    }
    expect(await readStatus(runtime, `${id}-submit-3`)).toBeUndefined();
  });

  it('should refuse a job naming a pool the deployment does not have, and store nothing', async () => {
    const name = uniqueName('nopool');
    const refused = await alice.json<{ code: string; errors: Array<{ path: string; message: string }> }>(
      'POST',
      '/jobs',
      { name, pool: 'gpu-large', tasks: [{ id: 'a', command: 'true' }] },
    );
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('POOL_NOT_FOUND');
    expect(refused.body.errors).toEqual([
      { path: 'pool', message: 'there is no pool "gpu-large" in this deployment; its pools are local' },
    ]);
    const listed = await alice.json<{ items: unknown[] }>('GET', `/jobs?name=${name}`);
    expect(listed.body.items).toEqual([]);
  });
});

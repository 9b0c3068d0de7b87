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

    const others = await bob.submit({ name: 'bobs', tasks: [{ id: 'b', command: 'echo bob' }] });
    expect((await bob.until(others, ENDED)).status).toBe('FINISHED');
    expect((await alice.job(second)).status).toBe('BLOCKED');

    expect((await alice.call('POST', `/jobs/${first}/cancel`)).status).toBe(202);
    expect((await alice.until(second, ENDED)).status).toBe('FINISHED');
    expect((await alice.job(first)).status).toBe('CANCELLED');
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

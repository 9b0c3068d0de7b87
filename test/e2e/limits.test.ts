import { describe, expect, inject, it } from 'vitest';
import { ENDED, jobClient } from '../support/jobClient.js';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef';

describe('a per-user limit on jobs running at once', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: {
      CLOUDJOBS_API_TOKENS: `alice=${ALICE},bob=${BOB}`,
      CLOUDJOBS_TABLE_PREFIX: uniqueName('u'),
      CLOUDJOBS_MAX_RUNNING_JOBS_PER_USER: '1',
      CLOUDJOBS_BLOCKED_RETRY_INITIAL_SECONDS: '1',
      CLOUDJOBS_BLOCKED_RETRY_MAX_SECONDS: '2',
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
});

import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ROOT, useRuntime } from '../support/runtimeProcess.js';
import { startOrchestration, waitForCompletion } from '../support/durable.js';
import { waitFor } from '../support/waitFor.js';

const APP = path.join(ROOT, 'test/integration/fixtures/conformance');
const ENTITIES = '/runtime/webhooks/durabletask/entities';

/** Every entry of `tag` in a ledger, in the order the ledger applied them. */
function tagged(entries: string[], tag: string): string[] {
  return entries.filter((e) => e.startsWith(`${tag}:`));
}

function sequence(tag: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${tag}:${i}`);
}

describe('embedded runtime: Durable entities', () => {
  const runtime = useRuntime({ app: APP, storage: inject('azurite') });

  async function entityState<T>(name: string, key: string): Promise<T | undefined> {
    const response = await runtime.fetch(`${ENTITIES}/${name}/${encodeURIComponent(key)}`);
    if (response.status === 404) return undefined;
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  }

  async function ledgerOf(key: string, length: number): Promise<string[]> {
    return waitFor(
      async () => {
        const entries = await entityState<string[]>('ledger', key);
        return entries && entries.length >= length ? entries : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: `ledger ${key} to hold ${length} entries` },
    );
  }

  it('should keep a counter from client signals, read it through the client and the HTTP API, and delete it', async () => {
    const key = `c-${Date.now()}`;
    for (const n of [1, 2, 3, 4, 5]) {
      const signalled = await runtime.fetch(`/api/entity-client/Counter/${key}/add`, {
        method: 'POST',
        body: JSON.stringify(n),
      });
      expect(signalled.status).toBe(202);
    }
    const read = await waitFor(
      async () => {
        const state = await runtime.json<{ entityExists: boolean; entityState?: number }>(
          `/api/entity-client/Counter/${key}`,
        );
        return state.entityState === 15 ? state : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the counter to reach 15' },
    );
    expect(read).toEqual({ entityExists: true, entityState: 15 });
    expect(await entityState<number>('counter', key)).toBe(15);

    const listed = await runtime.json<
      Array<{ entityId: unknown; state: unknown; lastOperationTime: string }>
    >(`${ENTITIES}/Counter?fetchState=true`);
    expect(listed).toContainEqual(expect.objectContaining({ entityId: { name: 'counter', key }, state: 15 }));
    const withoutState = await runtime.json<Array<{ entityId: { key: string }; state: unknown }>>(
      `${ENTITIES}/counter`,
    );
    expect(withoutState.find((e) => e.entityId.key === key)?.state).toBeNull();

    // DELETE is the operation "delete", which this counter answers with destructOnExit.
    expect((await runtime.fetch(`${ENTITIES}/counter/${key}`, { method: 'DELETE' })).status).toBe(202);
    await waitFor(async () => ((await entityState('counter', key)) === undefined ? true : undefined), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: 'the counter to be deleted',
    });
    const response = await runtime.fetch(`${ENTITIES}/counter/${key}`);
    expect(response.status).toBe(404);
    expect(await response.text()).toBe('');
    expect(
      (await runtime.json<Array<{ entityId: { key: string } }>>(`${ENTITIES}/counter`)).some(
        (e) => e.entityId.key === key,
      ),
    ).toBe(false);
  });

  it('should answer calls from an orchestration with results, and an operation that throws as a catchable error', async () => {
    const id = await startOrchestration(runtime, 'countWithCalls', `calls-${Date.now()}`);
    const status = await waitForCompletion(runtime, id);
    expect(status).toMatchObject({
      runtimeStatus: 'Completed',
      output: { added: [1, 3, 6], refused: 'Error', others: [0, 0, 0] },
    });
  });

  it('should apply every signal once, each sender’s in the order sent, one batch at a time', async () => {
    const key = `shared-${Date.now()}`;
    // Four senders at once, a hundred signals each in one episode, and one that signals across
    // many episodes: the entity interleaves senders but never reorders or repeats one.
    const ids = await Promise.all([
      ...['t0', 't1', 't2', 't3'].map((tag) =>
        startOrchestration(runtime, 'signalLedger', { key, count: 100, tag }),
      ),
      startOrchestration(runtime, 'signalLedgerSlowly', { key, count: 30, tag: 'slow' }),
    ]);
    const outcomes = await Promise.all(ids.map((id) => waitForCompletion(runtime, id, 60_000)));
    for (const outcome of outcomes.slice(0, 4)) {
      expect(outcome.runtimeStatus).toBe('Completed');
      // A call made after a sender's signals is answered after all of them were applied.
      expect(outcome.output as number).toBeGreaterThanOrEqual(100);
    }
    expect(outcomes[4]!.runtimeStatus).toBe('Completed');
    const entries = await ledgerOf(key, 430);
    expect(entries).toHaveLength(430);
    for (const tag of ['t0', 't1', 't2', 't3']) expect(tagged(entries, tag)).toEqual(sequence(tag, 100));
    expect(tagged(entries, 'slow')).toEqual(sequence('slow', 30));
    // Applied once each: the function saw as many appends as the ledger holds.
    expect(await runtime.json<string[]>(`/api/records/ledger:${key}`)).toHaveLength(430);
  });

  it('should keep a state larger than a table property, across batches', async () => {
    const key = `big-${Date.now()}`;
    const entries = ['a', 'b', 'c'].map((c) => c.repeat(20_000));
    for (const entry of entries) {
      const response = await runtime.fetch(`${ENTITIES}/ledger/${key}?op=append`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(entry),
      });
      expect(response.status).toBe(202);
    }
    expect(await ledgerOf(key, 3)).toEqual(entries);
  });

  it('should carry signals from one entity to another in order', async () => {
    const from = `from-${Date.now()}`;
    const to = `to-${Date.now()}`;
    for (let i = 0; i < 20; i++) {
      const response = await runtime.fetch(`${ENTITIES}/ledger/${from}?op=forward`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to, value: `fwd:${i}` }),
      });
      expect(response.status).toBe(202);
    }
    expect(await ledgerOf(to, 20)).toEqual(sequence('fwd', 20));
  });

  it('should fail an orchestration that calls an entity the app does not have, as the extension does', async () => {
    const id = await startOrchestration(runtime, 'callMissingEntity');
    const status = await waitForCompletion(runtime, id);
    expect(status.runtimeStatus).toBe('Failed');
    expect(status.output).toBe(
      "Orchestrator function 'callMissingEntity' failed: The function 'nosuchentity' doesn't exist, is disabled, or is not an entity function.",
    );
  });

  it('should run critical sections one at a time: read-modify-write across two entities loses nothing', async () => {
    const from = `from-${Date.now()}`;
    const to = `to-${Date.now()}`;
    // Four movers at once, five locked moves each, and a client adding to the source meanwhile:
    // its signals wait while a section holds the entity, and are applied after, none lost.
    const ids = await Promise.all(
      [0, 1, 2, 3].map(() => startOrchestration(runtime, 'transfer', { from, to, times: 5 })),
    );
    for (let i = 0; i < 5; i++) {
      await runtime.fetch(`${ENTITIES}/counter/${from}?op=add`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '100',
      });
    }
    for (const id of ids) expect((await waitForCompletion(runtime, id)).runtimeStatus).toBe('Completed');
    const source = await waitFor(
      async () => {
        const value = await entityState<number>('counter', from);
        return value === 500 - 20 ? value : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the source to settle at 480' },
    );
    expect(source).toBe(480);
    expect(await entityState<number>('counter', to)).toBe(20);
  });

  it('should release a lock the orchestration still held when it ended', async () => {
    const key = `forgotten-${Date.now()}`;
    const id = await startOrchestration(runtime, 'lockAndForget', key);
    expect((await waitForCompletion(runtime, id)).output).toBe('done');
    await runtime.fetch(`${ENTITIES}/counter/${key}?op=add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '10',
    });
    await waitFor(async () => ((await entityState<number>('counter', key)) === 11 ? true : undefined), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: 'a signal after the orchestration ended to be applied',
    });
  });

  it('should refuse signals the extension refuses: unknown entity, malformed JSON, a key with a slash', async () => {
    const unknown = await runtime.fetch(`${ENTITIES}/nosuch/k?op=add`, { method: 'POST', body: '' });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { Message: string }).Message).toBe(
      "The function 'nosuch' doesn't exist, is disabled, or is not an entity function.",
    );
    const malformed = await runtime.fetch(`${ENTITIES}/counter/k?op=add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"not json',
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { Message: string }).Message).toMatch(
      /^Could not parse JSON content/,
    );
    const slash = await runtime.fetch(`${ENTITIES}/counter/a%2Fb?op=add`, { method: 'POST', body: '1' });
    expect(slash.status).toBe(400);
    expect((await runtime.fetch(`${ENTITIES}/counter/never-signalled`)).status).toBe(404);
  });

  it('should page the entity list with a continuation token', async () => {
    const prefix = `page-${Date.now()}`;
    for (let i = 0; i < 5; i++) {
      await runtime.fetch(`${ENTITIES}/Counter/${prefix}-${i}?op=add`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '1',
      });
    }
    const seen = new Set<string>();
    await waitFor(
      async () => {
        seen.clear();
        let token: string | null = null;
        do {
          const response = await runtime.fetch(`${ENTITIES}/counter?top=2`, {
            headers: token ? { 'x-ms-continuation-token': token } : {},
          });
          const page = (await response.json()) as Array<{ entityId: { key: string } }>;
          expect(page.length).toBeLessThanOrEqual(2);
          for (const e of page) seen.add(e.entityId.key);
          token = response.headers.get('x-ms-continuation-token');
        } while (token);
        return [0, 1, 2, 3, 4].every((i) => seen.has(`${prefix}-${i}`)) ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'five counters to be listed across pages' },
    );
  });
});

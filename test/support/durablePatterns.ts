import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ROOT, useRuntime } from './runtimeProcess.js';
import { waitFor } from './waitFor.js';

interface CheckStatus {
  id: string;
  statusQueryGetUri: string;
  sendEventPostUri: string;
}

/**
 * The Durable Functions documentation's application patterns, in an app written as its samples
 * are (`fixture`, under test/integration/fixtures), driven over HTTP through the check-status
 * answer the app returns. Each module system and language gets the same checks.
 */
export function describePatterns(kind: string, fixture: string): void {
  describe(`embedded runtime: the documented Durable patterns, ${kind}`, () => {
    const runtime = useRuntime({
      app: path.join(ROOT, 'test/integration/fixtures', fixture),
      storage: inject('azurite'),
    });

    async function start(name: string, input?: unknown): Promise<CheckStatus> {
      const response = await runtime.fetch(`/api/orchestrators/${name}`, {
        method: 'POST',
        ...(input !== undefined ? { body: JSON.stringify(input) } : {}),
      });
      expect(response.status).toBe(202);
      expect(response.headers.get('location')).toContain(`/runtime/webhooks/durabletask/instances/`);
      return (await response.json()) as CheckStatus;
    }

    /** Polls the status URL the app handed out, as a client of the async HTTP API does. */
    async function outcome(
      check: CheckStatus,
      timeoutMs = 30_000,
    ): Promise<{ runtimeStatus: string; output: unknown }> {
      return waitFor(
        async () => {
          const response = await fetch(check.statusQueryGetUri);
          if (response.status === 202) return undefined;
          return (await response.json()) as { runtimeStatus: string; output: unknown };
        },
        { timeoutMs, intervalMs: 100, what: `instance ${check.id}` },
      );
    }

    it('should chain functions, fan out and in, and monitor with a timer loop', async () => {
      const [chained, fanned, monitored] = await Promise.all([
        start('chaining'),
        start('fanOutFanIn', 20),
        start('monitor'),
      ]);
      expect(await outcome(chained)).toMatchObject({
        runtimeStatus: 'Completed',
        output: ['Hello Tokyo', 'Hello Seattle', 'Hello Cairo'],
      });
      expect(await outcome(fanned)).toMatchObject({ runtimeStatus: 'Completed', output: 2100 });
      expect(await outcome(monitored)).toMatchObject({ runtimeStatus: 'Completed', output: { polls: 3 } });
    });

    it('should wait for a human, or escalate when nobody answers in time', async () => {
      const answered = await start('approval', 60_000);
      await waitFor(
        async () => ((await fetch(answered.statusQueryGetUri)).status === 202 ? true : undefined),
        {
          timeoutMs: 10_000,
          intervalMs: 50,
          what: 'the approval to be waiting',
        },
      );
      const raised = await fetch(answered.sendEventPostUri.replace('{eventName}', 'Approval'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ by: 'ann' }),
      });
      expect(raised.status).toBe(202);
      expect(await outcome(answered)).toMatchObject({
        runtimeStatus: 'Completed',
        output: 'approved by ann',
      });

      const ignored = await start('approval', 300);
      expect(await outcome(ignored)).toMatchObject({ runtimeStatus: 'Completed', output: 'escalated' });
    });

    it('should aggregate into a stateful entity from clients and an orchestration', async () => {
      const key = `agg-${Date.now()}`;
      for (const amount of [1, 2, 3]) {
        expect((await runtime.fetch(`/api/counter/${key}/add/${amount}`, { method: 'POST' })).status).toBe(
          202,
        );
      }
      const read = await waitFor(
        async () => {
          const state = await runtime.json<{ entityExists: boolean; entityState?: number }>(
            `/api/counter/${key}`,
          );
          return state.entityState === 6 ? state : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100, what: 'the counter to reach 6' },
      );
      expect(read).toEqual({ entityExists: true, entityState: 6 });
      expect(await outcome(await start('counterOrchestration', key))).toMatchObject({
        runtimeStatus: 'Completed',
        output: 16,
      });
      expect(await runtime.json(`/api/counter/never-${key}`)).toEqual({ entityExists: false });
    });

    it('should run each activity of a fan-out beside a timer several leases long exactly once', async () => {
      // The timer holds the orchestration's work for 12 s, more than two 5 s leases, while 600
      // activities run and their messages are renewed; each is counted where it runs.
      const run = `timed-${Date.now()}`;
      const check = await start('timedFanOut', { run, count: 600, timerMs: 12_000 });
      expect(await outcome(check, 60_000)).toMatchObject({ runtimeStatus: 'Completed', output: 600 });
      expect(await runtime.json<number>(`/api/executions/${run}`)).toBe(600);
    });
  });
}

import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ROOT, useRuntime } from '../support/runtimeProcess.js';
import { readStatus, startOrchestration, waitForCompletion, waitForStatus } from '../support/durable.js';
import { waitFor } from '../support/waitFor.js';

const APP = path.join(ROOT, 'test/integration/fixtures/conformance');

describe('embedded runtime: Durable Functions', () => {
  const runtime = useRuntime({ app: APP, storage: inject('azurite') });

  it('should fan out 1,000 activities and fan in every result in order', async () => {
    const started = performance.now();
    const id = await startOrchestration(runtime, 'fanOut', 1000);
    const status = await waitForCompletion(runtime, id, 120_000);
    const seconds = (performance.now() - started) / 1000;
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual(Array.from({ length: 1000 }, (_, i) => i * i));
    console.log(`1,000-activity fan-out: ${seconds.toFixed(2)} s`);
  });

  it('should run each of 3,000 activities once while their messages are renewed many times over', async () => {
    // 3,000 × 15 ms on 8 at a time is six seconds or more: bundles wait past half their 5 s lease
    // and are renewed while others finish and settle, where a settle used to race a renewal.
    const run = `counted-${Date.now()}`;
    const id = await startOrchestration(runtime, 'countedFanOut', { run, count: 3000 });
    const status = await waitForCompletion(runtime, id, 120_000);
    expect(status).toMatchObject({ runtimeStatus: 'Completed', output: 3000 });
    // Executions counted after the fan-in, and again a lease later: nothing ran twice, nothing came back.
    const executions = async () => (await runtime.json<number[]>(`/api/records/counted-${run}`)).length;
    expect(await executions()).toBe(3000);
    const runs = await runtime.json<number[]>(`/api/records/counted-${run}`);
    expect(new Set(runs).size).toBe(3000);
    await new Promise((resolve) => setTimeout(resolve, 6000));
    expect(await executions()).toBe(3000);
    expect(runtime.output).not.toMatch(/could not settle|pop receipt/i);
  });

  it('should run at most maxConcurrentActivityFunctions activities at once (host.json: 8)', async () => {
    const id = await startOrchestration(runtime, 'probeConcurrency');
    const status = await waitForCompletion(runtime, id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toBeGreaterThan(1);
    expect(status.output).toBeLessThanOrEqual(8);
  });

  it('should carry inputs, results and events larger than a queue message or a table property', async () => {
    const blob = 'i'.repeat(150_000);
    const id = await startOrchestration(runtime, 'bigPayloads', { blob, size: 300_000 });
    await waitForStatus(runtime, id, (s) => s.runtimeStatus === 'Running');
    await runtime.fetch(`/api/instances/${id}/events/big`, {
      method: 'POST',
      body: JSON.stringify({ blob: 'e'.repeat(120_000) }),
    });
    const status = await waitForCompletion(runtime, id);
    expect(status).toMatchObject({
      runtimeStatus: 'Completed',
      output: { inputLength: 150_000, resultLength: 300_000, eventLength: 120_000 },
      customStatus: { inputLength: 150_000 },
    });
    expect((status.input as { blob: string }).blob).toHaveLength(150_000);
  });

  it('should deliver an activity failure to the orchestrator as a catchable error with its message', async () => {
    const id = await startOrchestration(runtime, 'catchFailure');
    const status = await waitForCompletion(runtime, id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ caught: 'Error: boom: caught' });
  });

  it('should fail the orchestration with failure details when an activity failure is not caught', async () => {
    const id = await startOrchestration(runtime, 'uncaughtFailure');
    const status = await waitForCompletion(runtime, id);
    expect(status.runtimeStatus).toBe('Failed');
    expect(status.output).toMatch(/^Orchestrator function 'uncaughtFailure' failed: .*boom: uncaught/);
    const history = (await readStatus(runtime, id, true))!.historyEvents!;
    const failedTask = history.find((e) => e.EventType === 'TaskFailed')!;
    expect(failedTask).toMatchObject({
      FunctionName: 'failing',
      FailureDetails: { ErrorType: 'Error', ErrorMessage: 'boom: uncaught' },
    });
    const completed = history.find((e) => e.EventType === 'ExecutionCompleted')!;
    expect(completed).toMatchObject({ OrchestrationStatus: 'Failed' });
    expect((completed.FailureDetails as { ErrorMessage: string }).ErrorMessage).toContain('boom: uncaught');
  });

  it('should retry an activity with its retry options: attempts and exponential backoff', async () => {
    const key = `retry-${Date.now()}`;
    const id = await startOrchestration(runtime, 'retrying', { key, succeedOnAttempt: 3, maxAttempts: 5 });
    const status = await waitForCompletion(runtime, id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ attempt: 3, after: 9 });
    const attempts = await runtime.json<Array<{ attempt: number; at: number }>>(`/api/records/flaky:${key}`);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i]!.at);
    // First retry after 400 ms, the second after 800 ms (coefficient 2); timers fire on time, not early.
    expect(gaps[0]).toBeGreaterThanOrEqual(400);
    expect(gaps[1]).toBeGreaterThanOrEqual(800);
    expect(gaps[1]).toBeGreaterThan(gaps[0]!);
  });

  it('should fail after the last attempt when every retry fails, and count attempts exactly', async () => {
    const key = `exhaust-${Date.now()}`;
    const id = await startOrchestration(runtime, 'retrying', { key, succeedOnAttempt: 99, maxAttempts: 3 });
    const status = await waitForCompletion(runtime, id);
    expect(status.runtimeStatus).toBe('Failed');
    expect(status.output).toContain('attempt 3 failed');
    const attempts = await runtime.json<Array<{ attempt: number }>>(`/api/records/flaky:${key}`);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
  });

  it('should fire a durable timer after its due time and go on', async () => {
    const id = await startOrchestration(runtime, 'timerThenEcho', 1500);
    const status = await waitForCompletion(runtime, id);
    expect(status.runtimeStatus).toBe('Completed');
    const output = status.output as { waitedMs: number; echoed: string };
    expect(output.echoed).toBe('after timer');
    expect(output.waitedMs).toBeGreaterThanOrEqual(1500);
  });

  it('should resolve Task.any to the external event when it comes first', async () => {
    const id = await startOrchestration(runtime, 'race', 30_000);
    await waitForStatus(runtime, id, (s) => s.runtimeStatus === 'Running');
    const raised = await runtime.fetch(`/api/instances/${id}/events/approval`, {
      method: 'POST',
      body: JSON.stringify({ by: 'ann' }),
    });
    expect(raised.status).toBe(202);
    const status = await waitForCompletion(runtime, id);
    expect(status.output).toEqual({ outcome: 'event', payload: { by: 'ann' } });
  });

  it('should resolve Task.any to the timer when the event does not come', async () => {
    const id = await startOrchestration(runtime, 'race', 800);
    const status = await waitForCompletion(runtime, id);
    expect(status.output).toEqual({ outcome: 'timeout' });
  });

  it('should keep an event raised before the orchestration waits for it', async () => {
    const id = `early-${Date.now()}`;
    await startOrchestration(runtime, 'waiter', { hello: 1 }, id);
    await runtime.fetch(`/api/instances/${id}/events/go`, { method: 'POST', body: JSON.stringify('early') });
    const status = await waitForCompletion(runtime, id);
    expect(status.output).toEqual({ payload: 'early' });
  });

  it('should start with a chosen id, show custom status, raise an event and terminate another through df.getClient', async () => {
    const id = `client-${Date.now()}`;
    const other = `${id}-other`;
    expect(await startOrchestration(runtime, 'waiter', { n: 1 }, id)).toBe(id);
    await startOrchestration(runtime, 'waiter', { n: 2 }, other);

    const waiting = await waitFor(
      async () => {
        const status = await runtime.json<{
          runtimeStatus: string;
          customStatus: unknown;
          input: unknown;
          instanceId: string;
        }>(`/api/instances/${id}`);
        return (status.customStatus as { stage?: string } | null)?.stage === 'waiting' ? status : undefined;
      },
      { what: 'custom status' },
    );
    expect(waiting).toMatchObject({
      instanceId: id,
      runtimeStatus: 'Running',
      input: { n: 1 },
      customStatus: { stage: 'waiting', input: { n: 1 } },
    });

    const duplicate = await runtime.fetch(`/runtime/webhooks/durabletask/orchestrators/waiter/${id}`, {
      method: 'POST',
      body: '{}',
    });
    expect(duplicate.status).toBe(409);

    expect(
      (await runtime.fetch(`/api/instances/${other}/terminate?reason=not%20needed`, { method: 'POST' }))
        .status,
    ).toBe(202);
    await runtime.fetch(`/api/instances/${id}/events/go`, {
      method: 'POST',
      body: JSON.stringify({ ok: true }),
    });

    const done = await waitForCompletion(runtime, id);
    expect(done).toMatchObject({
      runtimeStatus: 'Completed',
      output: { payload: { ok: true } },
      customStatus: { stage: 'done' },
    });
    const terminated = await waitForCompletion(runtime, other);
    expect(terminated).toMatchObject({ runtimeStatus: 'Terminated', output: 'not needed' });

    const afterEnd = await runtime.fetch(`/runtime/webhooks/durabletask/instances/${id}/raiseEvent/go`, {
      method: 'POST',
      body: '1',
    });
    expect(afterEnd.status).toBe(410);
    const missing = await runtime.fetch(`/api/instances/nope-${Date.now()}`);
    expect(missing.status).toBe(404);
  });

  it('should hold events while suspended and apply them on resume', async () => {
    const id = `suspend-${Date.now()}`;
    await startOrchestration(runtime, 'waiter', null, id);
    await waitForStatus(runtime, id, (s) => s.runtimeStatus === 'Running');
    await runtime.fetch(`/api/instances/${id}/suspend`, { method: 'POST' });
    await waitForStatus(runtime, id, (s) => s.runtimeStatus === 'Suspended');
    await runtime.fetch(`/api/instances/${id}/events/go`, {
      method: 'POST',
      body: JSON.stringify('while suspended'),
    });
    // Nothing may happen while suspended: a status read after the event was accepted still says so.
    expect((await readStatus(runtime, id))!.runtimeStatus).toBe('Suspended');
    await runtime.fetch(`/api/instances/${id}/resume`, { method: 'POST' });
    const status = await waitForCompletion(runtime, id);
    expect(status).toMatchObject({ runtimeStatus: 'Completed', output: { payload: 'while suspended' } });
  });

  it('should run sub-orchestrations with generated and chosen ids', async () => {
    const id = `parent-${Date.now()}`;
    await startOrchestration(runtime, 'parent', null, id);
    const status = await waitForCompletion(runtime, id);
    expect(status.runtimeStatus).toBe('Completed');
    const [first, second] = status.output as Array<{ child: string; parent: string; squared: number }>;
    expect(first).toMatchObject({ parent: id, squared: 4 });
    expect(first!.child.startsWith(`${id}:`)).toBe(true);
    expect(second).toEqual({ child: `${id}-named-child`, parent: id, squared: 9 });
    expect((await readStatus(runtime, `${id}-named-child`))!.runtimeStatus).toBe('Completed');
  });

  it('should continue as new with fresh history until done', async () => {
    const id = `counter-${Date.now()}`;
    await startOrchestration(runtime, 'counter', { n: 0, target: 5 }, id);
    const status = await waitForCompletion(runtime, id);
    expect(status).toMatchObject({
      runtimeStatus: 'Completed',
      output: { n: 5 },
      input: { n: 4, target: 5 },
    });
    const history = (await readStatus(runtime, id, true))!.historyEvents!;
    // Only the last execution's history remains.
    expect(history.filter((e) => e.EventType === 'ExecutionStarted')).toHaveLength(1);
  });

  it('should purge an instance, finished or still running, as the extension does', async () => {
    const id = `purge-${Date.now()}`;
    await startOrchestration(runtime, 'fanOut', 3, id);
    await waitForCompletion(runtime, id);
    const purged = await runtime.json<{ instancesDeleted: number }>(`/api/instances/${id}`, {
      method: 'DELETE',
    });
    expect(purged.instancesDeleted).toBe(1);
    expect(await readStatus(runtime, id)).toBeUndefined();

    // Azure Storage checks nothing: a running instance's record and history go too.
    const running = await startOrchestration(runtime, 'race', 60_000);
    await waitForStatus(runtime, running, (s) => s.runtimeStatus === 'Running');
    const webhook = `/runtime/webhooks/durabletask/instances/${running}`;
    const deleted = await runtime.fetch(webhook, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ instancesDeleted: 1 });
    expect((await runtime.fetch(webhook)).status).toBe(404);
    expect((await runtime.fetch(webhook, { method: 'DELETE' })).status).toBe(404);
  });

  it('should answer an instance’s status with the codes and headers the extension uses', async () => {
    const status = (id: string, query = '') =>
      runtime.fetch(`/runtime/webhooks/durabletask/instances/${id}${query}`);
    const running = await startOrchestration(runtime, 'race', 60_000);
    await waitForStatus(runtime, running, (s) => s.runtimeStatus === 'Running');
    const polled = await status(running, '?showInput=false');
    expect(polled.status).toBe(202);
    expect(polled.headers.get('retry-after')).toBe('5');
    expect(polled.headers.get('location')).toBe(
      `${runtime.url}/runtime/webhooks/durabletask/instances/${running}?showInput=false`,
    );

    const terminated = await runtime.fetch(
      `/runtime/webhooks/durabletask/instances/${running}/terminate?reason=enough`,
      { method: 'POST' },
    );
    expect(terminated.status).toBe(202);
    await waitForStatus(runtime, running, (s) => s.runtimeStatus === 'Terminated');
    const ended = await status(running);
    expect(ended.status).toBe(200);
    expect(ended.headers.get('retry-after')).toBeNull();

    const failed = await startOrchestration(runtime, 'retrying', {
      key: `codes-${Date.now()}`,
      succeedOnAttempt: 99,
      maxAttempts: 1,
    });
    await waitForStatus(runtime, failed, (s) => s.runtimeStatus === 'Failed');
    expect((await status(failed)).status).toBe(200);
    expect((await status(failed, '?returnInternalServerErrorOnFailure=true')).status).toBe(500);
    // Only a failure becomes a 500: a termination stays 200 with the flag.
    expect((await status(running, '?returnInternalServerErrorOnFailure=true')).status).toBe(200);
    expect((await status('no-such-instance')).status).toBe(404);
  });

  it('should make durable HTTP calls, following a 202 with Location until the answer is final', async () => {
    const seen: Array<{ method: string; url: string; body: string; auth?: string }> = [];
    let polls = 0;
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        seen.push({ method: request.method!, url: request.url!, body, auth: request.headers.authorization });
        if (request.url === '/start') {
          response.writeHead(202, { Location: `http://127.0.0.1:${port}/status`, 'Retry-After': '1' }).end();
        } else if (request.url === '/status' && ++polls < 2) {
          response.writeHead(202, { Location: `http://127.0.0.1:${port}/status`, 'Retry-After': '1' }).end();
        } else {
          response.writeHead(200, { 'content-type': 'text/plain' }).end(`done after ${polls} polls`);
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      const id = await startOrchestration(runtime, 'httpCall', {
        method: 'POST',
        url: `http://127.0.0.1:${port}/start`,
        body: '{"job":1}',
        headers: { authorization: 'Bearer t' },
      });
      const status = await waitForCompletion(runtime, id);
      expect(status).toMatchObject({
        runtimeStatus: 'Completed',
        output: { statusCode: 200, content: 'done after 2 polls', type: 'text/plain' },
      });
      expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /start', 'GET /status', 'GET /status']);
      expect(seen[0]).toMatchObject({ body: '{"job":1}', auth: 'Bearer t' });
      // The poll carries the call's headers, as the extension's does.
      expect(seen[1]).toMatchObject({ auth: 'Bearer t' });

      // Polling beside other work: the runtime's poll timer and call take the ids the SDK gives them.
      polls = 0;
      const mixed = await startOrchestration(runtime, 'httpBesideActivity', `http://127.0.0.1:${port}/start`);
      expect(await waitForCompletion(runtime, mixed)).toMatchObject({
        runtimeStatus: 'Completed',
        output: [200, 9, 16],
      });
    } finally {
      server.close();
    }
  });
});

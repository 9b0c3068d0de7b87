import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ENDED, jobClient } from '../support/jobClient.js';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';

describe('every Event Grid event and Service Bus message delivered twice', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: { CLOUDJOBS_TABLE_PREFIX: uniqueName('d') },
    args: ['--delivery-faults', JSON.stringify({ eventGridDuplicateRate: 1, serviceBusDuplicateRate: 1 })],
  });
  const api = jobClient(runtime);
  // A subscriber, to see what doubled job-events and deliveries messages do to notifications.
  const received: Array<{ id: string; status: string }> = [];
  const receiver = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { status: string } };
      received.push({ id: String(request.headers['webhook-id']), status: event.data.status });
      response.writeHead(204).end();
    });
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    const created = await api.call('POST', '/subscriptions', { url: `http://127.0.0.1:${port}/hook` });
    expect(created.status).toBe(201);
  });
  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

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
    // Each state reached the subscriber once, in order, though every message about it came twice.
    await waitFor(() => (received.length >= history.length ? true : undefined), {
      what: `${history.length} webhooks`,
    });
    expect(received).toEqual(
      history.map((entry) => ({ id: `${id}:${entry.sequence}`, status: entry.status })),
    );
    // The faults did strike: every status change's job-events message was sent twice.
    const queue = await runtime.json<{ sent: number }>('/admin/local/servicebus/queues/job-events');
    expect(queue.sent).toBe(2 * history.length);
  });
});

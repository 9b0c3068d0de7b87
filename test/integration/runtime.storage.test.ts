import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { describe, expect, inject, it } from 'vitest';
import { ROOT, useRuntime } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';

/**
 * Blob and storage queue bindings on the embedded runtime, against a fixture app written as the
 * Functions documentation shows them, checked from outside through the storage APIs themselves.
 */
describe('embedded runtime: storage bindings', () => {
  const suffix = randomBytes(4).toString('hex');
  const container = `notes${suffix}`;
  const queue = `work${suffix}`;
  const runtime = useRuntime({
    app: path.join(ROOT, 'test/integration/fixtures/storageBindings'),
    storage: inject('azurite'),
    env: { NOTES_CONTAINER: container, WORK_QUEUE: queue },
  });
  const blobs = () => BlobServiceClient.fromConnectionString(inject('azurite')).getContainerClient(container);
  const queues = () => QueueServiceClient.fromConnectionString(inject('azurite'));
  const records = async <T>(kind: string) =>
    (await (await runtime.fetch(`/api/records/${kind}`)).json()) as T[];

  it('should write a blob output and read it back through a blob input, null when missing', async () => {
    expect((await runtime.fetch('/api/notes/first', { method: 'PUT', body: 'hello, blob' })).status).toBe(
      201,
    );
    expect((await blobs().getBlobClient('first.txt').downloadToBuffer()).toString()).toBe('hello, blob');
    const read = await runtime.fetch('/api/notes/first');
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('hello, blob');
    expect((await runtime.fetch('/api/notes/never-written')).status).toBe(404);
  });

  it('should send queue output as base64 messages and run the queue trigger on them', async () => {
    expect((await runtime.fetch('/api/work', { method: 'POST', body: '{"id":"w1"}' })).status).toBe(202);
    const done = await waitFor(
      async () => {
        const blob = blobs().getBlobClient('done/w1.json');
        return (await blob.exists())
          ? (JSON.parse((await blob.downloadToBuffer()).toString()) as unknown)
          : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the worker to write done/w1.json' },
    );
    expect(done).toEqual({ id: 'w1', dequeueCount: 1 });

    // A message another program sends as the SDKs do (base64) is taken the same way.
    const direct = queues().getQueueClient(queue);
    await direct.sendMessage(Buffer.from('{"id":"w2"}').toString('base64'));
    await waitFor(async () => ((await blobs().getBlobClient('done/w2.json').exists()) ? true : undefined), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: 'the worker to take a message sent from outside',
    });
  });

  it('should retry a failing message up to maxDequeueCount, then move it to the poison queue', async () => {
    await runtime.fetch('/api/work', { method: 'POST', body: '{"id":"bad","failTimes":99}' });
    const poisoned = await waitFor(
      async () => {
        const seen = await records<{ id: string }>('poison');
        return seen.find((m) => m.id === 'bad');
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the message in the poison queue' },
    );
    expect(poisoned).toEqual({ id: 'bad', failTimes: 99 });
    const tries = (await records<{ id: string; dequeueCount: number }>('work')).filter((w) => w.id === 'bad');
    expect(tries.map((t) => t.dequeueCount)).toEqual([1, 2, 3]);
    expect((await queues().getQueueClient(queue).peekMessages()).peekedMessageItems).toEqual([]);
  });
});

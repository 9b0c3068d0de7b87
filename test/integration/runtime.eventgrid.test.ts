import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, useRuntime } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';

const APP = path.join(ROOT, 'test/integration/fixtures/conformance');

interface BlobCreated {
  id: string;
  topic: string;
  subject: string;
  eventType: string;
  eventTime: string;
  dataVersion: string;
  metadataVersion: string;
  data: {
    api: string;
    eTag: string;
    contentType: string;
    contentLength: number;
    blobType: string;
    url: string;
    sequencer: string;
    requestId: string;
    clientRequestId: string;
  };
}

describe('embedded runtime: Event Grid blob events', () => {
  const runtime = useRuntime({
    app: APP,
    storage: inject('azurite'),
    args: ['--event-grid-retry-delays', '300,300'],
  });
  let blobs: BlobServiceClient;

  beforeAll(async () => {
    blobs = BlobServiceClient.fromConnectionString(runtime.info.connectionString);
    for (const name of ['uploads', 'elsewhere', 'flaky'])
      await blobs.getContainerClient(name).createIfNotExists();
  });

  /** Waits until every queued event has been handled, then returns what the function saw. */
  async function settledEvents(kind = 'events'): Promise<BlobCreated[]> {
    await waitFor(
      async () => {
        const subscriptions = await runtime.json<Array<{ name: string; pendingEvents: number }>>(
          '/admin/local/eventgrid/subscriptions',
        );
        return subscriptions.every((s) => s.pendingEvents === 0) ? true : undefined;
      },
      { what: 'the event queues to drain' },
    );
    return runtime.json<BlobCreated[]>(`/api/records/${kind}`);
  }

  it('should deliver one well-formed BlobCreated per blob written under the filter, and none for others', async () => {
    const run = Date.now().toString(36);
    const uploads = blobs.getContainerClient('uploads');
    const matching = uploads.getBlockBlobClient(`incoming/${run}/a.json`);
    const put = await matching.upload('{"a":1}', 7, {
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
    await uploads.getBlockBlobClient(`incoming/${run}/b.txt`).upload('text', 4);
    await uploads.getBlockBlobClient(`other/${run}/c.json`).upload('{}', 2);
    await blobs.getContainerClient('elsewhere').getBlockBlobClient(`incoming/${run}/d.json`).upload('{}', 2);

    const events = await waitFor(async () => {
      const seen = (await settledEvents()).filter((e) => e.subject.includes(run));
      return seen.length >= 1 ? seen : undefined;
    });
    expect(events).toHaveLength(1);
    const event = events[0]!;
    expect(event).toMatchObject({
      subject: `/blobServices/default/containers/uploads/blobs/incoming/${run}/a.json`,
      eventType: 'Microsoft.Storage.BlobCreated',
      topic: expect.stringMatching(
        /^\/subscriptions\/[0-9a-f-]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Storage\/storageAccounts\/devstoreaccount1$/,
      ) as string,
      dataVersion: '',
      metadataVersion: '1',
      data: {
        api: 'PutBlob',
        contentType: 'application/json',
        contentLength: 7,
        blobType: 'BlockBlob',
        eTag: put.etag,
        url: matching.url,
      },
    });
    expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(event.eventTime)).not.toBeNaN();
    expect(event.data.sequencer).toMatch(/^[0-9a-f]{32}$/);
  });

  it('should raise events for block-list uploads and copies with the final size, one per write', async () => {
    const run = Date.now().toString(36);
    const uploads = blobs.getContainerClient('uploads');
    const big = Buffer.alloc(9 * 1024 * 1024, 7);
    const blockBlob = uploads.getBlockBlobClient(`incoming/${run}/big.json`);
    await blockBlob.uploadData(big, { blockSize: 4 * 1024 * 1024, maxSingleShotSize: 1024 * 1024 });
    const copy = uploads.getBlockBlobClient(`incoming/${run}/copy.json`);
    await (await copy.beginCopyFromURL(blockBlob.url)).pollUntilDone();
    await blockBlob.upload('{}', 2);

    const events = await waitFor(async () => {
      const seen = (await settledEvents()).filter((e) => e.subject.includes(run));
      return seen.length >= 3 ? seen : undefined;
    });
    // Deliveries run concurrently; the sequencer orders events as the writes happened.
    events.sort((a, b) => a.data.sequencer.localeCompare(b.data.sequencer));
    expect(events.map((e) => [e.subject.split('/').pop(), e.data.api, e.data.contentLength])).toEqual([
      ['big.json', 'PutBlockList', big.length],
      ['copy.json', 'CopyBlob', big.length],
      ['big.json', 'PutBlob', 2],
    ]);
  });

  it('should retry a failed delivery with backoff, then dead-letter after maxDeliveryAttempts', async () => {
    const run = Date.now().toString(36);
    const flaky = blobs.getContainerClient('flaky');
    await flaky.getBlockBlobClient(`${run}/once.json`).upload('{}', 2);
    await flaky.getBlockBlobClient(`${run}/always-fails.json`).upload('{}', 2);

    const delivered = await waitFor(async () => {
      const seen = (await settledEvents('flakyDelivered')).filter((e) => e.subject.includes(run));
      return seen.length >= 1 ? seen : undefined;
    });
    expect(delivered).toHaveLength(1);
    const attempts = (
      await runtime.json<Array<{ subject: string; at: number }>>('/api/records/flakyAttempts')
    ).filter((a) => a.subject.includes(run));
    const once = attempts.filter((a) => a.subject.endsWith('once.json'));
    expect(once).toHaveLength(2);
    expect(once[1]!.at - once[0]!.at).toBeGreaterThanOrEqual(300);

    const deadLetters = blobs.getContainerClient('flaky-deadletter');
    const letter = await waitFor(async () => {
      for await (const item of deadLetters.listBlobsFlat()) {
        const text = (await deadLetters.getBlobClient(item.name).downloadToBuffer()).toString();
        if (text.includes(`${run}/always-fails.json`))
          return JSON.parse(text) as Array<Record<string, unknown>>;
      }
      return undefined;
    });
    expect(letter[0]).toMatchObject({ deadLetterReason: 'MaxDeliveryAttemptsExceeded', deliveryAttempts: 3 });
    expect(attempts.filter((a) => a.subject.endsWith('always-fails.json'))).toHaveLength(3);
  });
});

import path from 'node:path';
import { QueueClient } from '@azure/storage-queue';
import { describe, expect, inject, it } from 'vitest';
import { namespacePrefix, storageName } from '../../infra/local/util/names.js';
import { ROOT, useRuntime } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';

const APP = path.join(ROOT, 'test/integration/fixtures/conformance');

interface OrderRecord {
  id: string;
  deliveryCount: number;
  messageId: string;
}

describe('embedded runtime: Service Bus', () => {
  const runtime = useRuntime({ app: APP, storage: inject('azurite') });

  const deliveriesOf = async (id: string) =>
    (await runtime.json<OrderRecord[]>('/api/records/orders')).filter((r) => r.id === id);

  it('should deliver a message sent by an output binding to the queue trigger once, delivery count 1', async () => {
    const id = `ok-${Date.now()}`;
    expect(
      (await runtime.fetch('/api/orders', { method: 'POST', body: JSON.stringify({ id }) })).status,
    ).toBe(202);
    const deliveries = await waitFor(async () => {
      const found = await deliveriesOf(id);
      return found.length > 0 ? found : undefined;
    });
    expect(deliveries).toEqual([{ id, deliveryCount: 1, messageId: expect.any(String) as string }]);
    // Settled: nothing is left in the queue or its dead-letter queue.
    await waitFor(async () => {
      const counts = await runtime.json<{ active: number; deadLetter: number }>(
        '/admin/local/servicebus/queues/orders',
      );
      return counts.active === 0 ? counts : undefined;
    });
  });

  it('should redeliver a message whose handler throws, counting deliveries, until it succeeds', async () => {
    const id = `retry-${Date.now()}`;
    await runtime.fetch('/api/orders', { method: 'POST', body: JSON.stringify({ id, failTimes: 2 }) });
    const deliveries = await waitFor(async () => {
      const found = await deliveriesOf(id);
      return found.length >= 3 ? found : undefined;
    });
    expect(deliveries.map((d) => d.deliveryCount)).toEqual([1, 2, 3]);
    expect(new Set(deliveries.map((d) => d.messageId)).size).toBe(1);
  });

  it('should dead-letter a message after MaxDeliveryCount failed deliveries, where it can be read', async () => {
    const id = `poison-${Date.now()}`;
    await runtime.fetch('/api/orders', { method: 'POST', body: JSON.stringify({ id, failTimes: 99 }) });
    const deadLetters = await waitFor(async () => {
      const found = (
        await runtime.json<Array<{ order: { id: string }; reason: string; description: string }>>(
          '/api/records/deadLetters',
        )
      ).filter((d) => d.order.id === id);
      return found.length > 0 ? found : undefined;
    });
    expect(deadLetters).toEqual([
      {
        order: { id, failTimes: 99 },
        reason: 'MaxDeliveryCountExceeded',
        description: `order ${id} failed on delivery 3`,
      },
    ]);
    // The queue's MaxDeliveryCount is 3 (infra/local/servicebus.json): exactly three deliveries.
    expect((await deliveriesOf(id)).map((d) => d.deliveryCount)).toEqual([1, 2, 3]);
  });

  it('should keep dead letters readable through the admin API', async () => {
    const id = `peek-${Date.now()}`;
    // "unwatched" has no trigger and the default MaxDeliveryCount: messages just wait there.
    const send = await runtime.fetch('/admin/local/servicebus/queues/unwatched/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id }),
    });
    expect(send.status).toBe(201);
    const counts = await runtime.json<{ active: number; deadLetter: number; sent: number }>(
      '/admin/local/servicebus/queues/unwatched',
    );
    expect(counts).toEqual({ active: 1, deadLetter: 0, sent: 1 });

    // "audits" always fails and nothing consumes its dead letters.
    const poison = `dlq-${Date.now()}`;
    await runtime.fetch('/admin/local/servicebus/queues/audits/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: poison }),
    });
    const peeked = await waitFor(async () => {
      const letters = await runtime.json<
        Array<{
          body: string;
          applicationProperties: Record<string, unknown>;
          deadLetterSource: string;
          deliveryCount: number;
        }>
      >('/admin/local/servicebus/queues/audits/deadletter');
      return letters.find((l) => l.body.includes(poison));
    });
    expect(peeked).toMatchObject({
      deadLetterSource: 'audits',
      deliveryCount: 2,
      applicationProperties: {
        DeadLetterReason: 'MaxDeliveryCountExceeded',
        DeadLetterErrorDescription: 'audits are never accepted',
      },
    });
  });

  it('should deliver, retry and dead-letter each of many messages sent at once on its own', async () => {
    // One output binding call sends 150 messages: they share storage messages (carriers of up to
    // 64), yet each is delivered, counted and settled alone.
    const run = `many-${Date.now()}`;
    const orders = Array.from({ length: 150 }, (_, i) => ({
      id: `${run}-${i}`,
      ...(i % 50 === 7 ? { failTimes: 1 } : {}),
      ...(i === 100 ? { failTimes: 99 } : {}),
    }));
    expect(
      (await runtime.fetch('/api/orders', { method: 'POST', body: JSON.stringify(orders) })).status,
    ).toBe(202);
    const deadLetter = await waitFor(async () => {
      const found = (
        await runtime.json<Array<{ order: { id: string }; reason: string }>>('/api/records/deadLetters')
      ).filter((d) => d.order.id === `${run}-100`);
      return found.length > 0 ? found : undefined;
    });
    expect(deadLetter).toMatchObject([{ reason: 'MaxDeliveryCountExceeded' }]);
    const ours = await waitFor(async () => {
      const found = (await runtime.json<OrderRecord[]>('/api/records/orders')).filter((r) =>
        r.id.startsWith(`${run}-`),
      );
      return found.length >= 150 + 3 + 2 ? found : undefined;
    });
    const counts = new Map<string, number[]>();
    for (const record of ours)
      counts.set(record.id, [...(counts.get(record.id) ?? []), record.deliveryCount]);
    for (let i = 0; i < 150; i++) {
      const expected = i === 100 ? [1, 2, 3] : i % 50 === 7 ? [1, 2] : [1];
      expect(counts.get(`${run}-${i}`)?.sort(), `order ${i}`).toEqual(expected);
    }
    // Messages keep their own ids across redeliveries.
    expect(new Set(ours.filter((r) => r.id === `${run}-100`).map((r) => r.messageId)).size).toBe(1);
    expect(new Set(ours.map((r) => r.messageId)).size).toBe(150);
  });

  it('should hand a batch function the messages sent together, maxMessageBatchSize at a time', async () => {
    const run = `batch-${Date.now()}`;
    const readings = Array.from({ length: 25 }, (_, i) => ({ id: `${run}-${i}` }));
    await runtime.fetch('/api/readings', { method: 'POST', body: JSON.stringify(readings) });
    const batches = await waitFor(async () => {
      const found = (
        await runtime.json<Array<{ ids: string[]; deliveryCounts: number[]; messageIds: string[] }>>(
          '/api/records/readings',
        )
      ).filter((b) => b.ids.some((id) => id.startsWith(`${run}-`)));
      return found.flatMap((b) => b.ids).length >= 25 ? found : undefined;
    });
    // host.json: maxMessageBatchSize 10 (and minMessageBatchSize 5, which the last five meet).
    expect(batches.map((b) => b.ids.length).sort((a, b) => b - a)).toEqual([10, 10, 5]);
    expect(batches.flatMap((b) => b.ids).sort()).toEqual(readings.map((r) => r.id).sort());
    expect(batches.flatMap((b) => b.deliveryCounts)).toEqual(Array(25).fill(1));
    expect(new Set(batches.flatMap((b) => b.messageIds)).size).toBe(25);
  });

  it('should hold a batch under minMessageBatchSize for more, until maxBatchWaitTime has passed', async () => {
    // host.json: minMessageBatchSize 5, maxBatchWaitTime 2 s. Three readings sent one at a time
    // would each be a batch of their own; they wait for more and go together once the time is up.
    const run = `few-${Date.now()}`;
    const sent = Date.now();
    for (let i = 0; i < 3; i++) {
      const response = await runtime.fetch('/api/readings', {
        method: 'POST',
        body: JSON.stringify([{ id: `${run}-${i}` }]),
      });
      expect(response.status).toBe(202);
    }
    const batches = await waitFor(async () => {
      const found = (
        await runtime.json<Array<{ ids: string[]; at: number }>>('/api/records/readings')
      ).filter((b) => b.ids.some((id) => id.startsWith(`${run}-`)));
      return found.flatMap((b) => b.ids).length >= 3 ? found : undefined;
    });
    expect(batches.map((b) => b.ids.sort())).toEqual([[`${run}-0`, `${run}-1`, `${run}-2`]]);
    expect(batches[0]!.at - sent).toBeGreaterThanOrEqual(2000);
  });

  /** Stores a storage message in the orders queue as a runtime would have, and awaits its delivery. */
  const storedAndDelivered = async (kind: string, stored: (message: object) => object) => {
    const id = `${kind}-${Date.now()}`;
    const queue = new QueueClient(
      runtime.options.storage,
      storageName(`${namespacePrefix(runtime.namespace)}sb-`, 'orders', ''),
    );
    const message = {
      messageId: `${kind}${Date.now()}`,
      body: JSON.stringify({ id }),
      bodyEncoding: 'text',
      contentType: 'application/json',
      enqueuedTimeUtc: new Date().toISOString(),
      sequenceNumber: 1,
    };
    await queue.sendMessage(JSON.stringify(stored(message)));
    const deliveries = await waitFor(async () => {
      const found = await deliveriesOf(id);
      return found.length > 0 ? found : undefined;
    });
    return { id, messageId: message.messageId, deliveries };
  };

  it('should count a held carrier that a killed runtime left behind as delivered once already', async () => {
    // What a runtime leaves when it dies after handing a carrier to its own receiver in memory
    // (the first delivery) and before settling it: the carrier, marked held, visible again.
    const { id, messageId, deliveries } = await storedAndDelivered('held', (message) => ({
      messages: [message],
      held: true,
    }));
    expect(deliveries).toEqual([{ id, deliveryCount: 2, messageId }]);
  });

  it('should still deliver a message stored one per storage message, as earlier runtimes left them', async () => {
    const { id, messageId, deliveries } = await storedAndDelivered('legacy', (message) => message);
    expect(deliveries).toEqual([{ id, deliveryCount: 1, messageId }]);
  });
});

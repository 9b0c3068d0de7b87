import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Logger } from '../../infra/local/host/logger.js';
import { BundleRunner } from '../../infra/local/storage/bundleRunner.js';
import { LeaseKeeper, WorkQueue, type QueueMessage } from '../../infra/local/storage/workQueue.js';
import { waitFor } from '../support/waitFor.js';

/**
 * A queue client whose message updates take a while to answer, as they do on a busy account: a
 * renewal is then in flight for long stretches, and a settle made meanwhile meets it.
 */
function slowUpdates(queue: QueueClient, delayMs: number): QueueClient {
  return new Proxy(queue, {
    get(target, property, receiver) {
      if (property === 'updateMessage') {
        return async (...args: Parameters<QueueClient['updateMessage']>) => {
          await sleep(delayMs);
          return target.updateMessage(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('the embedded runtime’s work queue on Azurite', () => {
  const connection = inject('azurite');
  const name = `wq${randomBytes(6).toString('hex')}`;
  const queueClient = QueueServiceClient.fromConnectionString(connection).getQueueClient(name);
  const payloads = BlobServiceClient.fromConnectionString(connection).getContainerClient(name);
  const errors: string[] = [];
  const logger = new Logger({ defaultLevel: 'warning', write: (line) => errors.push(line) }).child('test');
  /** The queue with updates slowed, and a one-second lease renewed once half is left: renewed all the time. */
  const slowQueue = () =>
    new WorkQueue<{ n: number }>({
      queue: slowUpdates(queueClient, 40),
      payloads,
      leaseMs: 1000,
      parse: (value) => value as { n: number },
      logger,
    });
  afterAll(async () => {
    await queueClient.deleteIfExists();
    await payloads.deleteIfExists();
  });

  it('should settle every held message while its lease is being renewed, each exactly once', async () => {
    const queue = slowQueue();
    await queue.ensure();
    const keeper = new LeaseKeeper(logger, 10);
    const held: Array<QueueMessage<{ n: number }>> = [];
    for (let n = 0; n < 120; n++) {
      const message = await queue.send({ n }, { hold: true });
      keeper.hold(queue, message);
      held.push(message);
    }
    // Settled at random moments over three seconds: many while a renewal of theirs is in flight.
    const failures: unknown[] = [];
    await Promise.all(
      held.map(async (message) => {
        await sleep(Math.random() * 3000);
        try {
          await queue.complete(message);
        } catch (error) {
          failures.push(error);
        } finally {
          keeper.release(message);
        }
      }),
    );
    keeper.stop();
    expect(failures).toEqual([]);
    expect(errors).toEqual([]);
    // None comes back: every one was deleted, not left to reappear when its lease ran out.
    await sleep(1500);
    expect(await queue.receive(32)).toEqual([]);
    expect(await queue.count()).toBe(0);
  });

  it('should not hide an abandoned message again by renewing it', async () => {
    const queue = slowQueue();
    await queue.clear();
    const message = await queue.send({ n: 1 }, { hold: true });
    // A renewal already asked for when the message is abandoned: it must not land after.
    message.leaseUntil = 0;
    const renewal = queue.renew(message);
    const abandoned = queue.abandon(message, 0);
    const late = queue.renew(message);
    await Promise.all([renewal, abandoned, late]);
    const [again] = await queue.receive(1);
    expect(again?.body).toEqual({ n: 1 });
    await queue.complete(again!);
  });
});

describe('the embedded runtime’s bundle runner on Azurite', () => {
  const connection = inject('azurite');
  const name = `br${randomBytes(6).toString('hex')}`;
  const queueClient = QueueServiceClient.fromConnectionString(connection).getQueueClient(name);
  const payloads = BlobServiceClient.fromConnectionString(connection).getContainerClient(name);
  const logger = new Logger({ defaultLevel: 'warning' }).child('test');
  afterAll(async () => {
    await queueClient.deleteIfExists();
    await payloads.deleteIfExists();
  });

  it('should run what it sends itself without receiving, and still receive what others send', async () => {
    const queue = new WorkQueue<{ n: number }>({
      queue: queueClient,
      payloads,
      leaseMs: 5000,
      parse: (value) => value as { n: number },
      logger,
    });
    await queue.ensure();
    let receives = 0;
    const receive = queue.receive.bind(queue);
    queue.receive = (max) => {
      receives++;
      return receive(max);
    };
    const ran: number[] = [];
    const leases = new LeaseKeeper(logger);
    const runner = new BundleRunner<{ n: number }, number, undefined>({
      name: 'test',
      queue,
      leases,
      logger,
      concurrency: 1,
      maxBacklog: 4,
      maxPollIntervalMs: 1000,
      items: (body) => [body.n],
      state: () => undefined,
      run: (n) => {
        ran.push(n);
        return Promise.resolve();
      },
      settle: () => Promise.resolve(),
    });
    runner.start();
    try {
      // Let the start-up polls back off, then send one message after another, each run here.
      await waitFor(() => (receives >= 3 ? true : undefined), { intervalMs: 10 });
      const before = receives;
      for (let n = 1; n <= 20; n++) {
        await runner.submit({ n });
        await waitFor(() => (ran.includes(n) ? true : undefined), { intervalMs: 5 });
      }
      // A receive after each finished item would be 20; the idle back-off makes a few at most.
      expect(receives - before).toBeLessThan(5);

      // A message another process sends is found by the runner's own polling.
      await queue.send({ n: 99 });
      await waitFor(() => (ran.includes(99) ? true : undefined), { timeoutMs: 5000 });
      await waitFor(async () => ((await queue.count()) === 0 ? true : undefined));
      expect(ran).toEqual([...Array.from({ length: 20 }, (_, i) => i + 1), 99]);
    } finally {
      await runner.stop();
      leases.stop();
    }
  });
});

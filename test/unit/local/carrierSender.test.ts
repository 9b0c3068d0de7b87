import { describe, expect, it } from 'vitest';
import { CarrierSender } from '../../../infra/local/servicebus/carrierSender.js';
import type { Carrier, ServiceBusMessage } from '../../../infra/local/servicebus/messages.js';
import type { WorkQueue } from '../../../infra/local/storage/workQueue.js';

const message = (n: number): ServiceBusMessage => ({
  messageId: `m${n}`,
  body: `body ${n}`,
  bodyEncoding: 'text',
  enqueuedTimeUtc: new Date(0).toISOString(),
  sequenceNumber: n,
});

/** Records what is stored in the queue (the part of a WorkQueue a sender uses). */
function recordingQueue() {
  const stored: Carrier[] = [];
  const queue = {
    send: (carrier: Carrier) => {
      stored.push(carrier);
      return Promise.resolve();
    },
  } as unknown as WorkQueue<Carrier>;
  return { queue, stored };
}

describe('a Service Bus queue’s carrier sender', () => {
  it('should hand a carrier to a receiver here that can take it, with no store of its own', async () => {
    const { queue, stored } = recordingQueue();
    const handed: Carrier[] = [];
    let wakes = 0;
    const sender = new CarrierSender(
      queue,
      () => wakes++,
      (carrier) => {
        handed.push(carrier);
        return Promise.resolve();
      },
    );
    await Promise.all([sender.send([message(1)]), sender.send([message(2)])]);
    expect(handed).toEqual([{ messages: [message(1), message(2)] }]);
    expect(stored).toEqual([]);
    expect(wakes).toBe(0);
  });

  it('should store a carrier no receiver here can take, and wake the receivers', async () => {
    const { queue, stored } = recordingQueue();
    let wakes = 0;
    const sender = new CarrierSender(
      queue,
      () => wakes++,
      () => undefined,
    );
    await sender.send([message(1)]);
    expect(stored).toEqual([{ messages: [message(1)] }]);
    expect(wakes).toBe(1);
  });

  it('should fail the sends of a carrier the receiver could not store', async () => {
    const { queue } = recordingQueue();
    const sender = new CarrierSender(
      queue,
      () => undefined,
      () => Promise.reject(new Error('storage is gone')),
    );
    await expect(sender.send([message(1)])).rejects.toThrow('storage is gone');
  });
});

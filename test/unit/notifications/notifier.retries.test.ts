import { beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../../shared/errors.js';
import { RecordingTelemetry } from '../../support/telemetry.js';
import { METRICS } from '../../../shared/telemetry.js';
import { SECRET, NotifierFixture } from '../../support/notifierFixture.js';

describe('notification delivery: failures, retries and dead letters', () => {
  let f: NotifierFixture;
  beforeEach(() => {
    f = new NotifierFixture();
  });

  describe('failures and retries', () => {
    it('should wait for the retry and send nothing later meanwhile, then deliver it and the rest in order', async () => {
      await f.subscribe();
      await f.submit();
      f.webhooks.script.push(500);
      const failedAt = f.now;

      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });

      const retrying = (await f.row(1))!;
      expect(retrying.status).toBe('retrying');
      expect(retrying.nextAttemptAt).toBe(new Date(failedAt.getTime() + 5_000).toISOString());
      expect(retrying.claimedUntil).toBeUndefined();
      expect(retrying.attempts).toEqual([
        { at: failedAt.toISOString(), durationMs: 12, outcome: 'failed', statusCode: 500 },
      ]);
      expect((await f.deliveries.dueEntry('sub-1', 'job-1'))!.dueAt).toBe(retrying.nextAttemptAt);

      const kicks = await f.advanceTo('job-1', 'STAGING_INPUTS');
      for (const kick of kicks) {
        expect(await f.notifier().drain(kick)).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      }
      expect(f.sent()).toEqual(['job-1:1']);
      expect((await f.rows()).map((r) => r.sequence)).toEqual([1]);
      expect((await f.deliveries.dueEntry('sub-1', 'job-1'))!.dueAt).toBe(retrying.nextAttemptAt);
      expect(await f.notifier().sweep()).toEqual([]);

      f.now = new Date(retrying.nextAttemptAt!);
      const swept = await f.notifier().sweep();
      expect(swept).toEqual([f.kickOf()]);
      expect(await f.notifier().drain(swept[0]!)).toEqual({ outcome: 'caught-up', delivered: 3 });

      expect(f.sent()).toEqual(['job-1:1', 'job-1:1', 'job-1:2', 'job-1:3']);
      expect(f.webhooks.requests[1]!.body).toBe(f.webhooks.requests[0]!.body);
      expect(f.webhooks.requests[1]!.timestamp).toBe(Math.floor(f.now.getTime() / 1000));
      expect(f.verified(f.webhooks.requests[1]!, SECRET)).toBe(true);
      const delivered = (await f.row(1))!;
      expect(delivered.status).toBe('delivered');
      expect(delivered.nextAttemptAt).toBeUndefined();
      expect(delivered.attempts.map((a) => [a.statusCode, a.outcome])).toEqual([
        [500, 'failed'],
        [200, 'delivered'],
      ]);
      expect(await f.deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it.each([
      [0, 4_000],
      [0.5, 5_000],
      [0.999_999, 6_000],
    ])('should jitter the wait (random %d → %i ms)', async (value, wait) => {
      f.random = value;
      await f.subscribe();
      await f.submit();
      f.webhooks.script.push(503);

      await f.notifier().drain(f.kickOf());

      expect((await f.row(1))!.nextAttemptAt).toBe(f.at(wait));
    });

    it('should dead-letter a delivery once the schedule is spent, recording every attempt, and go on with the next change', async () => {
      await f.subscribe();
      await f.submit();
      await f.advanceTo('job-1', 'PROCESSING_INPUTS');
      f.webhooks.script.push(500, { error: 'connect ECONNREFUSED 203.0.113.9:443' }, 503);
      const n = f.notifier({ settings: { retryScheduleSeconds: [5, 30] } });
      const times: string[] = [];

      times.push(f.now.toISOString());
      expect(await n.drain(f.kickOf())).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      f.now = new Date((await f.row(1))!.nextAttemptAt!);
      times.push(f.now.toISOString());
      expect(await n.drain((await n.sweep())[0]!)).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      expect((await f.row(1))!.nextAttemptAt).toBe(f.at(30_000));
      f.now = new Date((await f.row(1))!.nextAttemptAt!);
      times.push(f.now.toISOString());
      expect(await n.drain((await n.sweep())[0]!)).toEqual({ outcome: 'caught-up', delivered: 1 });

      expect(f.sent()).toEqual(['job-1:1', 'job-1:1', 'job-1:1', 'job-1:2']);
      const dead = (await f.row(1))!;
      expect(dead.status).toBe('dead-lettered');
      expect(dead.nextAttemptAt).toBeUndefined();
      expect(dead.claimedUntil).toBeUndefined();
      expect(dead.attempts).toEqual([
        { at: times[0], durationMs: 12, outcome: 'failed', statusCode: 500 },
        { at: times[1], durationMs: 3, outcome: 'failed', error: 'connect ECONNREFUSED 203.0.113.9:443' },
        { at: times[2], durationMs: 12, outcome: 'failed', statusCode: 503 },
      ]);
      expect((await f.row(2))!.status).toBe('delivered');
      expect(await f.deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should count failed attempts, and log a dead letter with its job, subscription and delivery', async () => {
      await f.subscribe();
      await f.submit();
      f.webhooks.script.push(500, 503);
      const telemetry = new RecordingTelemetry();
      const n = f.notifier({ settings: { retryScheduleSeconds: [5] }, telemetry });
      await n.drain(f.kickOf());
      f.now = new Date((await f.row(1))!.nextAttemptAt!);
      await n.drain((await n.sweep())[0]!);

      expect(telemetry.total(METRICS.deliveriesFailed, { channel: 'webhook' })).toBe(2);
      expect(telemetry.total(METRICS.deliveriesDeadLettered, { channel: 'webhook' })).toBe(1);
      expect(telemetry.lines).toEqual([
        {
          level: 'warning',
          message: expect.stringMatching(
            /^gave up delivering job.status.changed #1 to subscription sub-1 after 2 attempt\(s\): status 503/,
          ) as unknown,
          fields: expect.objectContaining({
            jobId: 'job-1',
            subscriptionId: 'sub-1',
            deliveryId: 'job-1:1',
            channel: 'webhook',
            statusCode: 503,
          }) as unknown,
        },
      ]);
    });

    it('should dead-letter at once with an empty schedule', async () => {
      await f.subscribe();
      await f.submit();
      f.webhooks.script.push(404);

      expect(await f.notifier({ settings: { retryScheduleSeconds: [] } }).drain(f.kickOf())).toEqual({
        outcome: 'caught-up',
        delivered: 0,
      });
      expect((await f.row(1))!.status).toBe('dead-lettered');
    });

    it('should disable the subscription on 410 Gone, dead-letter the delivery and send nothing more', async () => {
      await f.subscribe();
      const kicks = [...(await f.submit()), ...(await f.advanceTo('job-1', 'STAGING_INPUTS'))];
      f.webhooks.script.push(410);

      expect(await f.notifier().drain(kicks[0]!)).toEqual({ outcome: 'subscription-disabled', delivered: 0 });

      const subscription = (await f.subscriptions.get('alice', 'sub-1'))!;
      expect(subscription.enabled).toBe(false);
      expect(subscription.disabledReason).toMatch(/410/);
      const gone = (await f.row(1))!;
      expect(gone.status).toBe('dead-lettered');
      expect(gone.attempts).toEqual([
        { at: f.now.toISOString(), durationMs: 12, outcome: 'gone', statusCode: 410 },
      ]);
      expect((await f.rows()).map((r) => r.sequence)).toEqual([1]);

      expect(await f.change('job-1', 'STAGING_JOB')).toEqual([]);
      for (const kick of kicks) {
        expect(await f.notifier().drain(kick)).toEqual({ outcome: 'subscription-disabled', delivered: 0 });
      }
      f.tick(3_600_000);
      for (const kick of await f.notifier().sweep()) await f.notifier().drain(kick);
      expect(f.sent()).toEqual(['job-1:1']);
      expect(await f.deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should send nothing after another drain’s 410, even holding the subscription as it was before', async () => {
      const before = await f.subscribe();
      const kicks = [...(await f.submit()), ...(await f.advanceTo('job-1', 'STAGING_INPUTS'))];
      f.webhooks.script.push(410);
      expect(await f.notifier().drain(kicks[0]!)).toEqual({ outcome: 'subscription-disabled', delivered: 0 });
      // A drain whose subscription read raced ahead of the 410, and whose stream read came after it.
      const get = f.subscriptions.get.bind(f.subscriptions);
      let stale = true;
      f.subscriptions.get = async (owner, id) => {
        if (!stale) return get(owner, id);
        stale = false;
        return before;
      };

      expect(await f.notifier().drain(kicks[1]!)).toEqual({ outcome: 'subscription-disabled', delivered: 0 });
      expect(f.sent()).toEqual(['job-1:1']);
    });

    it('should try again after the backstop when a sender throws and leaves its claim', async () => {
      await f.subscribe();
      await f.submit();
      f.webhooks.throwNext = true;

      await expect(f.notifier().drain(f.kickOf())).rejects.toThrow('socket hang up');
      expect((await f.row(1))!.status).toBe('pending');
      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'busy', delivered: 0 });

      f.tick(60_000);
      const swept = await f.notifier().sweep();
      expect(swept).toEqual([f.kickOf()]);
      expect(await f.notifier().drain(swept[0]!)).toEqual({ outcome: 'caught-up', delivered: 1 });
      expect(f.sent()).toEqual(['job-1:1', 'job-1:1']);
    });
  });
  describe('manual retries', () => {
    const deadLetter = async () => {
      await f.subscribe();
      await f.submit();
      await f.advanceTo('job-1', 'PROCESSING_INPUTS');
      f.webhooks.script.push(500);
      await f.notifier({ settings: { retryScheduleSeconds: [] } }).drain(f.kickOf());
      expect((await f.row(1))!.status).toBe('dead-lettered');
      expect(f.sent()).toEqual(['job-1:1', 'job-1:2']);
    };

    it('should deliver a dead-lettered delivery with one manual attempt', async () => {
      await deadLetter();
      f.tick(3_600_000);

      const { delivery, kick } = await f.notifier().redeliver('alice', 'sub-1', 'job-1:1');

      expect(f.sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:1']);
      const request = f.webhooks.requests.at(-1)!;
      expect(f.verified(request, SECRET)).toBe(true);
      expect(request.timestamp).toBe(Math.floor(f.now.getTime() / 1000));
      expect(delivery.status).toBe('delivered');
      expect(delivery.claimedUntil).toBeUndefined();
      expect(delivery.attempts).toHaveLength(2);
      expect(delivery.attempts[0]!.manual).toBeUndefined();
      expect(delivery.attempts[1]).toEqual({
        at: f.now.toISOString(),
        durationMs: 12,
        outcome: 'delivered',
        statusCode: 200,
        manual: true,
      });
      expect(kick).toBeUndefined();
      expect(await f.row(1)).toEqual(delivery);
    });

    /** Every change of two jobs dead-lettered while the endpoint was down: 2 + 3 dead letters. */
    const outage = async () => {
      await f.subscribe();
      const down = f.notifier({ settings: { retryScheduleSeconds: [] } });
      for (const [id, to] of [
        ['job-1', 'PROCESSING_INPUTS'],
        ['job-2', 'STAGING_INPUTS'],
      ] as const) {
        await f.submit(id);
        await f.advanceTo(id, to);
      }
      f.webhooks.script.push(...Array<number>(5).fill(503));
      await down.drain(f.kickOf('sub-1', 'job-1'));
      await down.drain(f.kickOf('sub-1', 'job-2'));
      expect([...f.deliveries.rows.values()].map((r) => r.status)).toEqual(Array(5).fill('dead-lettered'));
      f.webhooks.requests.length = 0;
    };

    it('should try every dead letter again in order, by job then sequence, once the endpoint is back', async () => {
      await outage();

      const result = await f.notifier().redeliverDeadLetters('alice', 'sub-1', { limit: 25 });

      expect(f.sent()).toEqual(['job-1:1', 'job-1:2', 'job-2:1', 'job-2:2', 'job-2:3']);
      expect(result.delivered.map((d) => [d.id, d.status])).toEqual(f.sent().map((id) => [id, 'delivered']));
      expect(result.failed).toBeUndefined();
      expect(result.more).toBe(false);
      for (const request of f.webhooks.requests) expect(f.verified(request, SECRET)).toBe(true);
      expect((await f.row(2))!.attempts.map((a) => a.manual ?? false)).toEqual([false, true]);
    });

    it('should stop at the first dead letter that fails again, trying none after it', async () => {
      await outage();
      f.webhooks.script.push(200, 503);

      const result = await f.notifier().redeliverDeadLetters('alice', 'sub-1', { limit: 25 });

      expect(f.sent()).toEqual(['job-1:1', 'job-1:2']);
      expect(result.delivered.map((d) => d.id)).toEqual(['job-1:1']);
      expect(result.failed).toMatchObject({ id: 'job-1:2', status: 'dead-lettered' });
      expect(result.failed!.attempts.at(-1)).toMatchObject({ statusCode: 503, manual: true });
      expect(result.more).toBe(true);
      expect((await f.row(1, 'sub-1', 'job-2'))!.attempts).toHaveLength(1);
    });

    it('should take at most limit dead letters, of one job when asked, and say whether more are left', async () => {
      await outage();

      const first = await f.notifier().redeliverDeadLetters('alice', 'sub-1', { jobId: 'job-2', limit: 2 });
      expect(first.delivered.map((d) => d.id)).toEqual(['job-2:1', 'job-2:2']);
      expect(first.more).toBe(true);
      const second = await f.notifier().redeliverDeadLetters('alice', 'sub-1', { jobId: 'job-2', limit: 2 });
      expect(second.delivered.map((d) => d.id)).toEqual(['job-2:3']);
      expect(second.more).toBe(false);
      expect(f.sent()).toEqual(['job-2:1', 'job-2:2', 'job-2:3']);
      expect((await f.row(1))!.status).toBe('dead-lettered');
    });

    it("should refuse someone else's subscription for a bulk retry, sending nothing", async () => {
      await outage();

      await expect(
        f.notifier().redeliverDeadLetters('mallory', 'sub-1', { limit: 25 }),
      ).rejects.toMatchObject({
        code: 'SUBSCRIPTION_NOT_FOUND',
      });
      expect(f.sent()).toEqual([]);
    });

    it('should leave a dead-lettered delivery dead-lettered when the manual attempt fails', async () => {
      await deadLetter();
      f.webhooks.script.push(502);

      const { delivery, kick } = await f.notifier().redeliver('alice', 'sub-1', 'job-1:1');

      expect(delivery.status).toBe('dead-lettered');
      expect(delivery.attempts.at(-1)).toEqual({
        at: f.now.toISOString(),
        durationMs: 12,
        outcome: 'failed',
        statusCode: 502,
        manual: true,
      });
      expect(delivery.nextAttemptAt).toBeUndefined();
      expect(kick).toBeUndefined();
    });

    it('should let the stream go on when a retrying delivery is delivered by hand', async () => {
      await f.subscribe();
      await f.submit();
      f.webhooks.script.push(500);
      await f.notifier().drain(f.kickOf());
      const kicks = await f.advanceTo('job-1', 'STAGING_INPUTS');
      for (const k of kicks) await f.notifier().drain(k);
      expect(f.sent()).toEqual(['job-1:1']);

      const { delivery, kick } = await f.notifier().redeliver('alice', 'sub-1', 'job-1:1');

      expect(delivery.status).toBe('delivered');
      expect(delivery.attempts.map((a) => a.manual ?? false)).toEqual([false, true]);
      expect(kick).toEqual(f.kickOf());
      expect(await f.notifier().drain(kick!)).toEqual({ outcome: 'caught-up', delivered: 2 });
      expect(f.sent()).toEqual(['job-1:1', 'job-1:1', 'job-1:2', 'job-1:3']);
      expect(await f.deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should not count a failed manual attempt against the schedule', async () => {
      await f.subscribe();
      await f.submit();
      f.webhooks.script.push(500, 500, 500);
      await f.notifier().drain(f.kickOf());
      const next = (await f.row(1))!.nextAttemptAt;

      const { delivery } = await f.notifier().redeliver('alice', 'sub-1', 'job-1:1');
      expect(delivery.status).toBe('retrying');
      expect(delivery.nextAttemptAt).toBe(next);

      f.now = new Date(next!);
      await f.notifier().drain((await f.notifier().sweep())[0]!);
      // The second automatic attempt failed: the next wait is the schedule's second, 30 s.
      expect((await f.row(1))!.nextAttemptAt).toBe(f.at(30_000));
      expect((await f.row(1))!.attempts.map((a) => a.manual ?? false)).toEqual([false, true, false]);
    });

    it('should return a delivered delivery as it is, sending nothing', async () => {
      await f.subscribe();
      await f.submit();
      await f.notifier().drain(f.kickOf());

      const { delivery, kick } = await f.notifier().redeliver('alice', 'sub-1', 'job-1:1');

      expect(delivery.status).toBe('delivered');
      expect(delivery.attempts).toHaveLength(1);
      expect(kick).toBeUndefined();
      expect(f.sent()).toEqual(['job-1:1']);
    });

    it('should refuse an unknown delivery with DELIVERY_NOT_FOUND', async () => {
      await deadLetter();

      const attempt = f.notifier().redeliver('alice', 'sub-1', 'job-1:99');

      await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
      await expect(attempt).rejects.toMatchObject({ code: 'DELIVERY_NOT_FOUND', status: 404 });
      expect(f.sent()).toHaveLength(2);
    });

    it("should refuse someone else's subscription with SUBSCRIPTION_NOT_FOUND", async () => {
      await deadLetter();

      const attempt = f.notifier().redeliver('bob', 'sub-1', 'job-1:1');

      await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
      await expect(attempt).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_FOUND' });
      await expect(f.notifier().redeliver('alice', 'no-such-sub', 'job-1:1')).rejects.toMatchObject({
        code: 'SUBSCRIPTION_NOT_FOUND',
      });
      expect(f.sent()).toHaveLength(2);
      expect((await f.row(1))!.status).toBe('dead-lettered');
    });
  });
});

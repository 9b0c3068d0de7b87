import { beforeEach, describe, expect, it } from 'vitest';
import { CLOUDEVENTS_JSON, type CloudEvent } from '../../../shared/domain/notifications.js';
import { SECRET, OTHER_SECRET, URL_A, seqOf, NotifierFixture } from '../../support/notifierFixture.js';

describe('notification delivery: fan-out, draining a stream in order', () => {
  let f: NotifierFixture;
  beforeEach(() => {
    f = new NotifierFixture();
  });

  describe('fan-out', () => {
    it("should wake one stream per matching subscription of the job's owner, and none of another owner's", async () => {
      await f.subscribe({ id: 'a' });
      await f.subscribe({ id: 'b', events: ['*'] });
      await f.subscribe({ id: 'c', owner: 'bob' });

      const kicks = await f.submit();

      expect(kicks.sort((x, y) => x.subscriptionId.localeCompare(y.subscriptionId))).toEqual([
        { owner: 'alice', subscriptionId: 'a', jobId: 'job-1' },
        { owner: 'alice', subscriptionId: 'b', jobId: 'job-1' },
      ]);
      expect(await f.deliveries.dueEntry('c', 'job-1')).toBeUndefined();
      expect([...f.deliveries.dueEntries.keys()].sort()).toEqual(['a|job-1', 'b|job-1']);
    });

    it('should honour the statuses, job, enabled, expiry and event type filters', async () => {
      await f.createJob();
      await f.subscribe({ id: 'every' });
      await f.subscribe({ id: 'running', statuses: ['RUNNING', 'FAILED'] });
      await f.subscribe({ id: 'finished', statuses: ['FINISHED'] });
      await f.subscribe({ id: 'this-job', jobId: 'job-1' });
      await f.subscribe({ id: 'other-job', jobId: 'job-2' });
      await f.subscribe({ id: 'disabled', enabled: false });
      await f.subscribe({ id: 'expired', expiresAt: f.at(-1) });
      await f.subscribe({ id: 'not-expired', expiresAt: f.at(3_600_000) });
      await f.subscribe({ id: 'tasks-only', events: ['task.*'] });
      await f.subscribe({ id: 'other-type', events: ['job.other.thing'] });

      const kicks = await f.notifier().fanOut({
        type: 'job.status.changed',
        owner: 'alice',
        jobId: 'job-1',
        status: 'RUNNING',
      });

      // A task subscriber is woken by job changes too: task changes before one go out before it.
      expect(kicks.map((k) => k.subscriptionId).sort()).toEqual([
        'every',
        'not-expired',
        'running',
        'tasks-only',
        'this-job',
      ]);
      expect(kicks.every((k) => k.owner === 'alice' && k.jobId === 'job-1')).toBe(true);
    });

    it('should make each woken stream due at now plus the backstop', async () => {
      await f.subscribe({ id: 'a' });
      await f.subscribe({ id: 'b' });

      await f.submit();

      for (const id of ['a', 'b']) {
        expect(await f.deliveries.dueEntry(id, 'job-1')).toMatchObject({
          owner: 'alice',
          subscriptionId: id,
          jobId: 'job-1',
          dueAt: f.at(60_000),
        });
      }
    });

    it('should keep the earlier due time when a stream is woken again', async () => {
      await f.subscribe();
      await f.submit();
      const first = f.at(60_000);

      await f.change('job-1', 'PROCESSING_INPUTS');

      expect((await f.deliveries.dueEntry('sub-1', 'job-1'))!.dueAt).toBe(first);
    });

    it('should wake nothing and mark nothing due when no subscription wants the event', async () => {
      await f.subscribe({ statuses: ['FINISHED'] });

      expect(await f.submit()).toEqual([]);
      expect(f.deliveries.dueEntries.size).toBe(0);
    });

    it('should let the sweep find a stream whose wake-up was lost, once the backstop has passed', async () => {
      await f.subscribe();
      await f.submit();

      expect(await f.notifier().sweep()).toEqual([]);
      f.tick(59_999);
      expect(await f.notifier().sweep()).toEqual([]);
      f.tick(1);
      expect(await f.notifier().sweep()).toEqual([f.kickOf()]);
      expect((await f.deliveries.dueEntry('sub-1', 'job-1'))!.dueAt).toBe(f.at(60_000));
      expect(await f.notifier().sweep()).toEqual([]);

      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'caught-up', delivered: 1 });
      expect(f.sent()).toEqual(['job-1:1']);
    });
  });
  describe('draining a stream', () => {
    it('should deliver every change in sequence order, signed per Standard Webhooks', async () => {
      await f.subscribe();
      const kicks = [...(await f.submit()), ...(await f.advanceTo('job-1', 'RUNNING'))];
      expect(kicks).toHaveLength(7);

      const result = await f.notifier().drain(kicks[0]!);

      expect(result).toEqual({ outcome: 'caught-up', delivered: 7 });
      expect(f.sent()).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => `job-1:${n}`));
      for (const [i, request] of f.webhooks.requests.entries()) {
        expect(request.url).toBe(URL_A);
        expect(request.contentType).toBe(CLOUDEVENTS_JSON);
        expect(request.contentType).toBe('application/cloudevents+json');
        expect(request.timestamp).toBe(Math.floor(f.now.getTime() / 1000));
        expect(f.verified(request, SECRET)).toBe(true);
        expect(f.verified(request, OTHER_SECRET)).toBe(false);
        expect(f.verified({ ...request, body: request.body.replace('alice', 'mallory') }, SECRET)).toBe(
          false,
        );
        const body = JSON.parse(request.body) as CloudEvent;
        expect(body).toEqual(await f.expectedCloudEvent('job-1', i + 1));
        expect(body.id).toBe(request.id);
        expect(body.data.sequence).toBe(i + 1);
      }
      const stored = await f.rows();
      expect(stored.map((r) => [r.id, r.sequence, r.status])).toEqual(
        [1, 2, 3, 4, 5, 6, 7].map((n) => [`job-1:${n}`, n, 'delivered']),
      );
      for (const [i, r] of stored.entries()) {
        expect(r.body).toBe(f.webhooks.requests[i]!.body);
        expect(r.eventType).toBe('job.status.changed');
        expect(r.attempts).toEqual([
          { at: f.now.toISOString(), durationMs: 12, outcome: 'delivered', statusCode: 200 },
        ]);
        expect(r.claimedUntil).toBeUndefined();
        expect(r.nextAttemptAt).toBeUndefined();
      }
      expect(await f.deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should carry the task counts and the time of the change, not of the sending', async () => {
      await f.subscribe();
      await f.submit();
      const taskCounts = {
        PENDING: 0,
        QUEUED: 1,
        RUNNING: 1,
        SUCCEEDED: 0,
        FAILED: 0,
        SKIPPED: 0,
        CANCELLED: 0,
      };
      await f.change('job-1', 'PROCESSING_INPUTS', { taskCounts });
      const changedAt = f.now.toISOString();
      f.tick(3_600_000);

      await f.notifier().drain(f.kickOf());

      const second = JSON.parse(f.webhooks.requests[1]!.body) as CloudEvent;
      expect(second.time).toBe(changedAt);
      expect(second.data).toMatchObject({
        jobId: 'job-1',
        name: 'name-of-job-1',
        owner: 'alice',
        previousStatus: 'PENDING',
        status: 'PROCESSING_INPUTS',
        sequence: 2,
        taskCounts,
      });
      const first = JSON.parse(f.webhooks.requests[0]!.body) as CloudEvent;
      expect(first.data.taskCounts).toEqual({
        PENDING: 0,
        QUEUED: 0,
        RUNNING: 0,
        SUCCEEDED: 0,
        FAILED: 0,
        SKIPPED: 0,
        CANCELLED: 0,
      });
    });

    it('should answer caught-up and send nothing when drained again', async () => {
      await f.subscribe();
      const kicks = [...(await f.submit()), ...(await f.advanceTo('job-1', 'STAGING_INPUTS'))];
      await f.notifier().drain(kicks[0]!);

      expect(await f.notifier().drain(kicks[1]!)).toEqual({ outcome: 'caught-up', delivered: 0 });
      expect(f.sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3']);
    });

    it('should deliver only the changes into the statuses the subscription asks for', async () => {
      await f.subscribe({ statuses: ['RUNNING', 'FINISHED'] });
      await f.createJob();
      const kicks = await f.advanceTo('job-1', 'FINISHED');
      expect(kicks).toHaveLength(2);

      expect(await f.notifier().drain(kicks[1]!)).toEqual({ outcome: 'caught-up', delivered: 2 });

      expect(f.sent()).toEqual(['job-1:7', 'job-1:9']);
      expect((await f.rows()).map((r) => r.sequence)).toEqual([7, 9]);
    });

    it("should keep one subscription's stream apart from another's and from another job's", async () => {
      await f.subscribe({ id: 'a' });
      await f.subscribe({
        id: 'b',
        secret: OTHER_SECRET,
        target: { kind: 'webhook', url: 'https://b.example.com/' },
      });
      await f.submit('job-1');
      await f.submit('job-2');
      await f.advanceTo('job-1', 'STAGING_INPUTS');

      await f.notifier().drain(f.kickOf('a', 'job-1'));
      await f.notifier().drain(f.kickOf('b', 'job-2'));

      expect(f.sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3', 'job-2:1']);
      expect(f.verified(f.webhooks.requests[3]!, OTHER_SECRET)).toBe(true);
      expect(f.webhooks.requests[3]!.url).toBe('https://b.example.com/');
      expect(await f.rows('b', 'job-1')).toEqual([]);
      expect(await f.deliveries.dueEntry('b', 'job-1')).toBeDefined();
    });
  });
  describe('ordering', () => {
    it('should deliver in order and once when the wake-ups arrive in reverse order', async () => {
      await f.subscribe();
      const kicks = [...(await f.submit()), ...(await f.advanceTo('job-1', 'SUBMITTING_JOB'))];
      expect(kicks).toHaveLength(5);

      const results = [];
      for (const kick of [...kicks].reverse()) results.push(await f.notifier().drain(kick));

      expect(f.sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3', 'job-1:4', 'job-1:5']);
      expect(results.map((r) => r.delivered)).toEqual([5, 0, 0, 0, 0]);
    });

    it('should never send a change before the earlier ones are settled, nor twice, when drains run at once', async () => {
      await f.subscribe();
      const kicks = [...(await f.submit()), ...(await f.advanceTo('job-1', 'SUBMITTING_JOB'))];
      const violations: string[] = [];
      f.webhooks.during = async (request) => {
        const earlier = (await f.rows()).filter((r) => r.sequence < seqOf(request));
        if (earlier.length !== seqOf(request) - 1)
          violations.push(`${request.id} sent with ${earlier.length} earlier rows`);
        for (const r of earlier)
          if (r.status !== 'delivered' && r.status !== 'dead-lettered')
            violations.push(`${request.id} sent while ${r.id} was ${r.status}`);
      };

      const results = await Promise.all(
        [...kicks, ...kicks].reverse().map((kick) => f.notifier().drain(kick)),
      );

      expect(violations).toEqual([]);
      expect(f.sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3', 'job-1:4', 'job-1:5']);
      expect(f.webhooks.maxInFlight).toBe(1);
      expect(results.reduce((sum, r) => sum + r.delivered, 0)).toBe(5);
      expect((await f.rows()).every((r) => r.status === 'delivered' && r.attempts.length === 1)).toBe(true);
    });

    it('should answer busy, sending nothing, while another drain is sending the head of the stream', async () => {
      await f.subscribe();
      await f.submit();
      let arrived!: () => void;
      const inFlight = new Promise<void>((resolve) => (arrived = resolve));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      f.webhooks.during = async () => {
        arrived();
        await gate;
      };

      const first = f.notifier().drain(f.kickOf());
      await inFlight;
      // A later change arrives while the first is still out: its wake-up must not overtake it.
      const [kick] = await f.change('job-1', 'PROCESSING_INPUTS');
      expect(await f.notifier().drain(kick!)).toEqual({ outcome: 'busy', delivered: 0 });
      expect(f.sent()).toEqual(['job-1:1']);

      release();
      expect(await first).toEqual({ outcome: 'caught-up', delivered: 2 });
      expect(f.sent()).toEqual(['job-1:1', 'job-1:2']);
      // The wake-up that came during the drain moved the due entry; the drain looked again and cleared it.
      expect(await f.deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should deliver changes recorded while it is sending, after the one in flight', async () => {
      await f.subscribe();
      await f.submit();
      let recorded = false;
      f.webhooks.during = async () => {
        if (recorded) return;
        recorded = true;
        await f.change('job-1', 'PROCESSING_INPUTS');
        await f.change('job-1', 'STAGING_INPUTS');
      };

      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'caught-up', delivered: 3 });

      expect(f.sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3']);
      expect(await f.deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should look again, not clear the due entry, when news arrives just as it catches up', async () => {
      await f.subscribe();
      await f.submit();
      const dueEntry = f.deliveries.dueEntry.bind(f.deliveries);
      let calls = 0;
      // The drain reads the due entry when it starts and again when it finds nothing more to send;
      // the change lands between its last look at the history and that second read.
      f.deliveries.dueEntry = async (subscriptionId, jobId) => {
        if (++calls === 2) await f.change('job-1', 'PROCESSING_INPUTS');
        return dueEntry(subscriptionId, jobId);
      };

      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'caught-up', delivered: 2 });

      expect(f.sent()).toEqual(['job-1:1', 'job-1:2']);
      expect(await f.deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import { subscriptionView } from '../../../shared/notifications/subscriptionsApi.js';
import {
  SECRET,
  OWNER_SECRET,
  OTHER_SECRET,
  URL_A,
  ALICE,
  NotifierFixture,
} from '../../support/notifierFixture.js';

describe('notification delivery: standing and per-job subscriptions', () => {
  let f: NotifierFixture;
  beforeEach(() => {
    f = new NotifierFixture();
  });

  describe('standing and per-job subscriptions', () => {
    it('should not tell a standing subscription of changes made before it existed', async () => {
      await f.submit();
      await f.advanceTo('job-1', 'STAGING_JOB');
      f.tick();
      await f.subscribe({ createdAt: f.now.toISOString() });
      const kicks = await f.advanceTo('job-1', 'QUEUED');

      expect(await f.notifier().drain(kicks[0]!)).toEqual({ outcome: 'caught-up', delivered: 2 });

      expect(f.sent()).toEqual(['job-1:5', 'job-1:6']);
      expect((await f.rows()).map((r) => r.sequence)).toEqual([5, 6]);
    });

    it("should tell a per-job subscription of it all from sequence 1, signed with the owner's secret", async () => {
      await f.submit();
      await f.advanceTo('job-1', 'STAGING_INPUTS');
      f.tick();
      await f.subscribe({
        id: 'job-1-n1',
        perJob: true,
        jobId: 'job-1',
        secret: '',
        createdAt: f.now.toISOString(),
      });
      await f.subscriptions.setOwnerSecret('alice', OWNER_SECRET);

      expect(await f.notifier().drain(f.kickOf('job-1-n1'))).toEqual({ outcome: 'caught-up', delivered: 3 });

      expect(f.sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3']);
      for (const request of f.webhooks.requests) {
        expect(f.verified(request, OWNER_SECRET)).toBe(true);
        expect(f.verified(request, SECRET)).toBe(false);
      }
      const subscription = await f.subscriptions.get('alice', 'job-1-n1');
      expect(subscription!.enabled).toBe(true);
      expect(subscription!.disabledReason).toBeUndefined();
    });

    it('should sign with the replaced owner secret too for as long as the rotation overlaps, then not', async () => {
      await f.subscribe({ id: 'job-1-n1', perJob: true, jobId: 'job-1', secret: '' });
      await f.subscriptions.setOwnerSecret('alice', OTHER_SECRET);
      await f.subscriptions.setOwnerSecret('alice', OWNER_SECRET, { previousUntil: f.at(60_000) });
      await f.submit();
      await f.notifier().drain(f.kickOf('job-1-n1'));
      const during = f.webhooks.requests.at(-1)!;
      expect(during.signature.split(' ')).toHaveLength(2);
      expect(f.verified(during, OWNER_SECRET)).toBe(true);
      expect(f.verified(during, OTHER_SECRET)).toBe(true);

      f.tick(61_000);
      const [next] = await f.change('job-1', 'PROCESSING_INPUTS');
      await f.notifier().drain(next!);
      const after = f.webhooks.requests.at(-1)!;
      expect(after.id).toBe('job-1:2');
      expect(after.signature.split(' ')).toHaveLength(1);
      expect(f.verified(after, OWNER_SECRET)).toBe(true);
      expect(f.verified(after, OTHER_SECRET)).toBe(false);
    });

    it("should sign a standing subscription's webhooks with its replaced secret too for a day after a rotation, then not", async () => {
      const created = await f.apis().subscriptions.create(ALICE, { url: URL_A });
      const id = created.subscription.id;
      await f.submit();
      await f.notifier().drain(f.kickOf(id));
      expect(f.verified(f.webhooks.requests.at(-1)!, created.secret)).toBe(true);

      const rotated = await f.apis().subscriptions.rotateSecret(ALICE, id);
      expect(rotated.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(rotated.secret).not.toBe(created.secret);
      expect(rotated.previousSignsUntil).toBe(f.at(24 * 3600_000));
      const view = subscriptionView((await f.subscriptions.get('alice', id))!);
      expect(JSON.stringify(view)).not.toContain('whsec_');
      expect(view.previousSecretSignsUntil).toBe(rotated.previousSignsUntil);

      const [during] = await f.change('job-1', 'PROCESSING_INPUTS');
      await f.notifier().drain(during!);
      const overlapping = f.webhooks.requests.at(-1)!;
      expect(overlapping.id).toBe('job-1:2');
      expect(overlapping.signature.split(' ')).toHaveLength(2);
      expect(f.verified(overlapping, rotated.secret)).toBe(true);
      expect(f.verified(overlapping, created.secret)).toBe(true);

      f.tick(24 * 3600_000);
      const [after] = await f.change('job-1', 'STAGING_INPUTS');
      await f.notifier().drain(after!);
      const last = f.webhooks.requests.at(-1)!;
      expect(last.id).toBe('job-1:3');
      expect(last.signature.split(' ')).toHaveLength(1);
      expect(f.verified(last, rotated.secret)).toBe(true);
      expect(f.verified(last, created.secret)).toBe(false);
    });

    it('should keep the secret each rotation replaced, rotating twice in a row', async () => {
      const created = await f.apis().subscriptions.create(ALICE, { url: URL_A });
      const first = await f.apis().subscriptions.rotateSecret(ALICE, created.subscription.id);
      const second = await f.apis().subscriptions.rotateSecret(ALICE, created.subscription.id);

      const stored = (await f.subscriptions.get('alice', created.subscription.id))!;
      expect(stored.secret).toBe(second.secret);
      expect(stored.previousSecret?.secret).toBe(first.secret);
    });

    it("should refuse to rotate an email subscription's, a spec webhook's or someone else's secret", async () => {
      const mail = await f.apis().subscriptions.create(ALICE, { email: 'alice@example.org' });
      await f.subscribe({ id: 'job-1-n1', perJob: true, jobId: 'job-1', secret: '' });
      const hook = await f.apis().subscriptions.create(ALICE, { url: URL_A });

      await expect(f.apis().subscriptions.rotateSecret(ALICE, mail.subscription.id)).rejects.toMatchObject({
        code: 'SUBSCRIPTION_NOT_SIGNED',
        status: 409,
      });
      await expect(f.apis().subscriptions.rotateSecret(ALICE, 'job-1-n1')).rejects.toMatchObject({
        code: 'SUBSCRIPTION_SIGNED_BY_ACCOUNT',
        status: 409,
      });
      await expect(
        f.apis().subscriptions.rotateSecret({ ...ALICE, owner: 'mallory' }, hook.subscription.id),
      ).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_FOUND', status: 404 });
      expect((await f.subscriptions.get('alice', hook.subscription.id))!.secret).toBe(hook.secret);
    });

    it("should disable a per-job subscription once the job's final change has been delivered, not before", async () => {
      await f.subscribe({ id: 'job-1-n1', perJob: true, jobId: 'job-1', secret: '' });
      await f.subscriptions.setOwnerSecret('alice', OWNER_SECRET);
      await f.submit();
      const kicks = await f.advanceTo('job-1', 'ARCHIVING');
      await f.notifier().drain(kicks.at(-1)!);
      expect(f.sent()).toHaveLength(8);
      expect((await f.subscriptions.get('alice', 'job-1-n1'))!.enabled).toBe(true);

      const [finished] = await f.change('job-1', 'FINISHED');
      f.webhooks.script.push(500);
      expect(await f.notifier().drain(finished!)).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      expect((await f.subscriptions.get('alice', 'job-1-n1'))!.enabled).toBe(true);

      f.now = new Date((await f.row(9, 'job-1-n1'))!.nextAttemptAt!);
      const swept = await f.notifier().sweep();
      expect(swept).toEqual([f.kickOf('job-1-n1')]);
      expect((await f.notifier().drain(swept[0]!)).delivered).toBe(1);

      const subscription = (await f.subscriptions.get('alice', 'job-1-n1'))!;
      expect(subscription.enabled).toBe(false);
      expect(subscription.disabledReason).toMatch(/FINISHED/);
      expect(f.sent().slice(-2)).toEqual(['job-1:9', 'job-1:9']);
      expect(f.verified(f.webhooks.requests.at(-1)!, OWNER_SECRET)).toBe(true);
      expect(await f.deliveries.dueEntry('job-1-n1', 'job-1')).toBeUndefined();
      // Disabled, it is woken by nothing more.
      expect(
        await f.notifier().fanOut({
          type: 'job.status.changed',
          owner: 'alice',
          jobId: 'job-1',
          status: 'FINISHED',
        }),
      ).toEqual([]);
    });

    it('should fail a per-job webhook, sending nothing, when its owner has no signing secret', async () => {
      await f.subscribe({ id: 'job-1-n1', perJob: true, jobId: 'job-1', secret: '' });
      await f.submit();

      expect(await f.notifier().drain(f.kickOf('job-1-n1'))).toEqual({
        outcome: 'waiting-to-retry',
        delivered: 0,
      });

      expect(f.sent()).toEqual([]);
      const first = (await f.row(1, 'job-1-n1'))!;
      expect(first.status).toBe('retrying');
      expect(first.attempts).toEqual([
        {
          at: f.now.toISOString(),
          durationMs: 0,
          outcome: 'failed',
          error: expect.stringMatching(/signing secret/) as string,
        },
      ]);
    });
  });
});

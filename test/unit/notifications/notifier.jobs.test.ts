import { beforeEach, describe, expect, it } from 'vitest';
import { OWNER_SECRET, PATH, ALICE, NotifierFixture } from '../../support/notifierFixture.js';

describe('notification delivery: streams of deleted jobs and subscriptions', () => {
  let f: NotifierFixture;
  beforeEach(() => {
    f = new NotifierFixture();
  });

  describe('streams with nothing left to deliver', () => {
    it('should deliver nothing to a deleted subscription and forget its due entry', async () => {
      await f.subscribe();
      await f.submit();
      await f.subscriptions.delete('alice', 'sub-1');

      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'nothing-to-deliver', delivered: 0 });

      expect(f.sent()).toEqual([]);
      expect(await f.deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should deliver nothing for a deleted job and forget its due entry', async () => {
      await f.subscribe();
      await f.submit();
      await f.jobs.deleteJob('job-1');

      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'nothing-to-deliver', delivered: 0 });

      expect(f.sent()).toEqual([]);
      expect(await f.deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it("should deliver nothing of another owner's job, even when a wake-up names it", async () => {
      await f.subscribe();
      await f.submit('bobs-job', 'bob');

      expect(await f.notifier().drain(f.kickOf('sub-1', 'bobs-job'))).toEqual({
        outcome: 'nothing-to-deliver',
        delivered: 0,
      });
      expect(await f.notifier().drain(f.kickOf('sub-1', 'bobs-job', 'bob'))).toEqual({
        outcome: 'nothing-to-deliver',
        delivered: 0,
      });
      expect(f.sent()).toEqual([]);
    });
  });
  describe('deleting a job', () => {
    /** Two finished jobs, each heard of by a standing subscription and one of its own. */
    const twoFinishedJobs = async () => {
      await f.subscribe();
      await f.subscriptions.setOwnerSecret('alice', OWNER_SECRET);
      for (const id of ['job-1', 'job-2']) {
        await f.subscribe({ id: `${id}-n1`, perJob: true, jobId: id, secret: '' });
        const kicks = [...(await f.submit(id)), ...(await f.advanceTo(id, 'FINISHED'))];
        for (const kick of kicks) await f.notifier().drain(kick);
      }
      expect(await f.rows('sub-1', 'job-1')).toHaveLength(PATH.length + 1);
      expect(await f.rows('job-1-n1', 'job-1')).toHaveLength(PATH.length + 1);
    };

    it("should forget the job's own subscriptions and every delivery of its events, and nothing else", async () => {
      await twoFinishedJobs();
      await f.subscribe({ id: 'sub-bob', owner: 'bob' });
      // A stream of the job still due (a wake-up that came after it caught up).
      await f.deliveries.markDue(f.kickOf('sub-1', 'job-1'), new Date(f.at(60_000)));
      const sentBefore = f.sent().length;

      await f.apis().jobs.delete(ALICE, 'job-1');

      expect(await f.subscriptions.get('alice', 'job-1-n1')).toBeUndefined();
      expect(await f.rows('sub-1', 'job-1')).toEqual([]);
      expect(await f.rows('job-1-n1', 'job-1')).toEqual([]);
      expect(await f.deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
      // The other job's deliveries, its own subscription, and the standing ones are kept.
      expect(await f.rows('sub-1', 'job-2')).toHaveLength(PATH.length + 1);
      expect(await f.rows('job-2-n1', 'job-2')).toHaveLength(PATH.length + 1);
      expect(await f.subscriptions.get('alice', 'job-2-n1')).toBeDefined();
      expect(await f.subscriptions.get('alice', 'sub-1')).toBeDefined();
      expect(await f.subscriptions.get('bob', 'sub-bob')).toBeDefined();
      // A wake-up still on its way finds no job: nothing is sent again, nothing is written again.
      expect(await f.notifier().drain(f.kickOf('sub-1', 'job-1'))).toEqual({
        outcome: 'nothing-to-deliver',
        delivered: 0,
      });
      expect(f.sent()).toHaveLength(sentBefore);
      expect(await f.rows('sub-1', 'job-1')).toEqual([]);
    });

    it('should keep every delivery of a job that is still running, refusing the delete', async () => {
      await f.subscribe();
      for (const kick of [...(await f.submit()), ...(await f.advanceTo('job-1', 'RUNNING'))]) {
        await f.notifier().drain(kick);
      }

      await expect(f.apis().jobs.delete(ALICE, 'job-1')).rejects.toMatchObject({ code: 'JOB_NOT_FINISHED' });

      expect(await f.rows('sub-1', 'job-1')).toHaveLength(7);
    });

    it('should finish forgetting on a retried delete after a failure left the job gone', async () => {
      await twoFinishedJobs();
      const forget = f.deliveries.forget.bind(f.deliveries);
      let failures = 1;
      f.deliveries.forget = async (subscriptionId, options) => {
        if (failures-- > 0) throw new Error('table storage is unavailable');
        return forget(subscriptionId, options);
      };
      const jobsApi = f.apis().jobs;

      await expect(jobsApi.delete(ALICE, 'job-1')).rejects.toThrow('table storage is unavailable');
      expect(await f.jobs.getJob('job-1')).toBeUndefined();
      await expect(jobsApi.delete(ALICE, 'job-1')).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });

      expect(await f.rows('sub-1', 'job-1')).toEqual([]);
      expect(await f.rows('job-1-n1', 'job-1')).toEqual([]);
      expect(await f.subscriptions.get('alice', 'job-1-n1')).toBeUndefined();
      expect(await f.rows('sub-1', 'job-2')).toHaveLength(PATH.length + 1);
    });

    it("should not let a delete of another owner's job id touch that owner's deliveries", async () => {
      await twoFinishedJobs();

      await expect(
        f.apis().jobs.delete({ owner: 'mallory', admin: false, via: 'token' }, 'job-1'),
      ).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });

      expect(await f.rows('sub-1', 'job-1')).toHaveLength(PATH.length + 1);
      expect(await f.subscriptions.get('alice', 'job-1-n1')).toBeDefined();
    });
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import type { TaskStatus } from '../../../shared/domain/lifecycle.js';
import {
  CLOUDEVENTS_BATCH_JSON,
  jobStatusEvent,
  taskStatusEvent,
  toTaskCloudEvent,
  toEmail,
  type CloudEvent,
} from '../../../shared/domain/notifications.js';
import type { TaskUpdate } from '../../../shared/store/jobStore.js';
import { SECRET, OWNER_SECRET, NotifierFixture } from '../../support/notifierFixture.js';

describe('notification delivery: task events and email', () => {
  let f: NotifierFixture;
  beforeEach(() => {
    f = new NotifierFixture();
  });

  describe('task events', () => {
    /** Records task changes as the signal handlers do (logged) and fans the news out. */
    const taskChange = async (
      changes: Array<[taskId: string, status: TaskStatus, extra?: Partial<TaskUpdate>]>,
      jobId = 'job-1',
    ) => {
      f.tick();
      const result = await f.jobs.updateTasks(
        jobId,
        changes.map(([id, status, extra]) => ({ id, status, attempt: 1, at: f.now.toISOString(), ...extra })),
        { log: true },
      );
      const statuses = [...new Set(result.changes.map((c) => c.task.status))];
      return statuses.length > 0
        ? f.notifier().fanOut({ type: 'task.status.changed', owner: 'alice', jobId, statuses })
        : [];
    };
    const withTasks = async (ids: string[], jobId = 'job-1') => {
      await f.jobs.putTasks(
        jobId,
        ids.map((id) => ({ id, status: 'QUEUED' as const })),
      );
    };
    /** What each request carried: a job event's id, or a task batch's event ids. */
    const received = () =>
      f.webhooks.requests.map((r) =>
        r.contentType === CLOUDEVENTS_BATCH_JSON
          ? (JSON.parse(r.body) as CloudEvent[]).map((e) => e.id)
          : r.id,
      );

    it('should send task changes in batches, each before the job change that followed it', async () => {
      await f.subscribe({ events: ['job.*', 'task.*'] });
      await f.submit();
      await f.advanceTo('job-1', 'QUEUED');
      await withTasks(['a', 'b']);
      await taskChange([['a', 'RUNNING']]);
      await taskChange([['b', 'RUNNING']]);
      await f.change('job-1', 'RUNNING');
      await taskChange([['a', 'SUCCEEDED', { exitCode: 0 }]]);
      await taskChange([['b', 'FAILED', { exitCode: 3, failure: { code: 'EXIT_CODE', message: 'exit 3' } }]]);
      await f.change('job-1', 'ARCHIVING');
      await f.change('job-1', 'FAILED', { condition: 'TASK_FAILED' });

      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'caught-up', delivered: 11 });

      expect(received()).toEqual([
        ...[1, 2, 3, 4, 5, 6].map((n) => `job-1:${n}`),
        ['job-1:t1', 'job-1:t2'],
        'job-1:7',
        ['job-1:t3', 'job-1:t4'],
        'job-1:8',
        'job-1:9',
      ]);
      const batch = f.webhooks.requests[8]!;
      expect(batch.contentType).toBe('application/cloudevents-batch+json');
      expect(batch.id).toBe('job-1:t3');
      expect(f.verified(batch, SECRET)).toBe(true);
      const job = (await f.jobs.getJob('job-1'))!;
      const log = await f.jobs.taskLog('job-1', { after: 2, limit: 10 });
      expect(JSON.parse(batch.body)).toEqual(
        log.map((entry) => toTaskCloudEvent(taskStatusEvent(job, entry))),
      );
      expect((JSON.parse(batch.body) as CloudEvent[])[1]).toMatchObject({
        type: 'cloudjobs.task.status.changed',
        source: '/jobs/job-1',
        subject: 'tasks/b',
        data: {
          taskId: 'b',
          previousStatus: 'RUNNING',
          status: 'FAILED',
          exitCode: 3,
          failure: { code: 'EXIT_CODE', message: 'exit 3' },
          sequence: 4,
          links: { stderr: '/api/jobs/job-1/tasks/b/logs/stderr' },
        },
      });
      expect((await f.taskRows()).map((r) => [r.id, r.sequence, r.lastSequence, r.events, r.status])).toEqual(
        [
          ['job-1:t1', 1, 2, 2, 'delivered'],
          ['job-1:t3', 3, 4, 2, 'delivered'],
        ],
      );
    });

    it('should send a job change past task changes its status filter does not take', async () => {
      await f.subscribe({ events: ['job.*', 'task.*'], statuses: ['FAILED', 'FINISHED'] });
      await f.submit();
      await f.advanceTo('job-1', 'RUNNING');
      await withTasks(['a', 'b']);
      await taskChange([['a', 'SUCCEEDED']]);
      await taskChange([['b', 'SUCCEEDED']]);
      const kicks = await f.advanceTo('job-1', 'FINISHED');
      expect(kicks.length).toBeGreaterThan(0);

      for (const kick of kicks) await f.notifier().drain(kick);

      expect(received()).toEqual(['job-1:9']);
    });

    it('should wake only task subscribers that want one of the statuses', async () => {
      await f.createJob();
      await withTasks(['a']);
      await f.subscribe({ id: 'all-tasks', events: ['task.*'] });
      await f.subscribe({ id: 'failures', events: ['task.*'], statuses: ['FAILED'] });
      await f.subscribe({ id: 'jobs', events: ['job.*'] });
      await f.subscribe({ id: 'other-job', events: ['task.*'], jobId: 'job-2' });

      // Not woken at once: made due now, for the sweep to drain in a batch with what follows.
      expect(await taskChange([['a', 'RUNNING']])).toEqual([]);
      expect([...f.deliveries.dueEntries.values()].map((d) => [d.subscriptionId, d.dueAt])).toEqual([
        ['all-tasks', f.now.toISOString()],
      ]);
      const first = f.now.toISOString();
      await taskChange([['a', 'FAILED']]);
      expect([...f.deliveries.dueEntries.values()].map((d) => [d.subscriptionId, d.dueAt])).toEqual([
        ['all-tasks', first],
        ['failures', f.now.toISOString()],
      ]);
      expect((await f.notifier().sweep()).map((k) => k.subscriptionId)).toEqual(['all-tasks', 'failures']);
    });

    it('should send only the task changes a status filter takes, and skip past the rest', async () => {
      await f.subscribe({ events: ['task.*'], statuses: ['FAILED'] });
      await f.createJob();
      await withTasks(['a', 'b', 'c', 'd']);
      await taskChange([
        ['a', 'RUNNING'],
        ['b', 'RUNNING'],
        ['c', 'RUNNING'],
      ]);
      await taskChange([['a', 'SUCCEEDED']]);
      await taskChange([['b', 'FAILED', { exitCode: 1 }]]);
      await taskChange([['c', 'SUCCEEDED']]);

      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'caught-up', delivered: 1 });
      expect(received()).toEqual([['job-1:t5']]);
      // The batch covers what it skipped, so a later look starts after it.
      expect((await f.taskRows()).map((r) => [r.sequence, r.lastSequence, r.events])).toEqual([[1, 6, 1]]);
      await taskChange([['d', 'FAILED', { exitCode: 2 }]]);
      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'caught-up', delivered: 1 });
      expect(received()).toEqual([['job-1:t5'], ['job-1:t7']]);
    });

    it('should batch at most 100 task changes, and not send a batch before the one before is delivered', async () => {
      await f.subscribe({ events: ['task.*'] });
      await f.createJob();
      const ids = Array.from({ length: 250 }, (_, i) => `t${i}`);
      await withTasks(ids);
      await taskChange(ids.map((id) => [id, 'RUNNING']));
      f.webhooks.script.push(500);

      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      expect(received()).toEqual([ids.slice(0, 100).map((_, i) => `job-1:t${i + 1}`)]);

      f.tick(6_000);
      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'caught-up', delivered: 3 });
      const sizes = received().map((r) => (r as string[]).length);
      expect(sizes).toEqual([100, 100, 100, 50]);
      expect(f.webhooks.requests.map((r) => r.id)).toEqual([
        'job-1:t1',
        'job-1:t1',
        'job-1:t101',
        'job-1:t201',
      ]);
      expect(f.webhooks.requests[0]!.body).toBe(f.webhooks.requests[1]!.body);
    });

    it('should hold a job change back until the task changes before it are delivered', async () => {
      await f.subscribe({ events: ['job.*', 'task.*'], statuses: ['RUNNING'] });
      await f.submit();
      await f.advanceTo('job-1', 'QUEUED');
      await withTasks(['a']);
      await taskChange([['a', 'RUNNING']]);
      await f.change('job-1', 'RUNNING');
      f.webhooks.script.push(503);

      expect(await f.notifier().drain(f.kickOf())).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      expect(received()).toEqual([['job-1:t1']]);
      f.tick(6_000);
      const [kick] = await f.notifier().sweep();
      expect(await f.notifier().drain(kick!)).toEqual({ outcome: 'caught-up', delivered: 2 });
      expect(received()).toEqual([['job-1:t1'], ['job-1:t1'], 'job-1:7']);
    });

    it('should tell a standing subscription of task changes made after it, not before', async () => {
      await f.createJob();
      await withTasks(['a', 'b']);
      await taskChange([['a', 'RUNNING']]);
      await f.subscribe({ events: ['task.*'], createdAt: f.at(500) });
      await taskChange([['b', 'RUNNING']]);

      await f.notifier().drain(f.kickOf());

      expect(received()).toEqual([['job-1:t2']]);
    });

    it('should end a per-job subscription after the job’s final event once its task changes are sent', async () => {
      await f.subscribe({ id: 'job-1-n1', perJob: true, jobId: 'job-1', events: ['task.*'], secret: '' });
      await f.subscriptions.setOwnerSecret('alice', OWNER_SECRET);
      await f.submit();
      await f.advanceTo('job-1', 'RUNNING');
      await withTasks(['a']);
      await taskChange([['a', 'RUNNING']]);
      await taskChange([['a', 'SUCCEEDED']]);
      const kicks = await f.advanceTo('job-1', 'FINISHED');
      expect(kicks.map((k) => k.subscriptionId)).toContain('job-1-n1');

      expect(await f.notifier().drain(f.kickOf('job-1-n1'))).toEqual({ outcome: 'caught-up', delivered: 1 });
      expect(received()).toEqual([['job-1:t1', 'job-1:t2']]);
      expect(f.verified(f.webhooks.requests[0]!, OWNER_SECRET)).toBe(true);
      expect((await f.subscriptions.get('alice', 'job-1-n1'))!.enabled).toBe(false);
    });

    it('should email one message per batch, naming each task and its exit code', async () => {
      await f.subscribe({ target: { kind: 'email', address: 'me@example.org' }, events: ['task.*'] });
      await f.createJob();
      await withTasks(['a', 'b']);
      await taskChange([
        ['a', 'RUNNING'],
        ['b', 'RUNNING'],
      ]);
      await taskChange([['a', 'FAILED', { exitCode: 2 }]]);

      await f.notifier().drain(f.kickOf());

      expect(f.email.requests).toHaveLength(1);
      const [message] = f.email.requests;
      expect(message!.subject).toBe('[cloudjobs] name-of-job-1: 3 task changes (2 RUNNING, 1 FAILED)');
      expect(message!.text).toContain('a: RUNNING -> FAILED, exit code 2');
      expect(message!.text).toContain('b: QUEUED -> RUNNING');
      expect(message!.messageId).toBe('<job-1.t1.sub-1@cloudjobs>');
    });

    it('should redeliver a dead-lettered task batch by its id', async () => {
      await f.subscribe({ events: ['task.*'] });
      await f.createJob();
      await withTasks(['a']);
      await taskChange([['a', 'RUNNING']]);
      f.webhooks.script.push(500, 500, 500, 500);
      await f.notifier().drain(f.kickOf());
      for (const wait of [6_000, 36_000, 360_000]) {
        f.tick(wait);
        await f.notifier().drain(f.kickOf());
      }
      expect((await f.taskRows())[0]!.status).toBe('dead-lettered');

      const { delivery } = await f.notifier().redeliver('alice', 'sub-1', 'job-1:t1');

      expect(delivery.status).toBe('delivered');
      expect(f.webhooks.requests).toHaveLength(5);
      expect(new Set(f.webhooks.requests.map((r) => r.body)).size).toBe(1);
    });

    it('should not send task changes to a subscription that did not opt in', async () => {
      await f.subscribe({ events: ['*'] });
      await f.submit();
      await f.advanceTo('job-1', 'RUNNING');
      await withTasks(['a']);
      await taskChange([['a', 'RUNNING']]);

      await f.notifier().drain(f.kickOf());

      expect(received()).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => `job-1:${n}`));
      expect(await f.taskRows()).toEqual([]);
    });
  });
  describe('email', () => {
    const mailbox = 'ops@example.com';

    it('should send an email subscription the rendered email, with a message id stable across attempts', async () => {
      await f.subscribe({ target: { kind: 'email', address: mailbox } });
      await f.submit();
      await f.advanceTo('job-1', 'RUNNING');
      await f.change('job-1', 'FAILED', {
        condition: 'TASK_FAILED',
        exitCodes: { t2: 3 },
        message: 'task t2 failed',
      });
      f.email.script.push({ outcome: 'failed', statusCode: 451, durationMs: 4 });
      const n = f.notifier({
        settings: { publicUrl: 'https://jobs.example.com', retryScheduleSeconds: [0] },
      });

      expect(await n.drain(f.kickOf())).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      expect(await n.drain((await n.sweep())[0]!)).toEqual({ outcome: 'caught-up', delivered: 8 });

      expect(f.webhooks.requests).toEqual([]);
      expect(f.email.requests.map((r) => r.messageId)).toEqual([
        '<job-1.1.sub-1@cloudjobs>',
        '<job-1.1.sub-1@cloudjobs>',
        ...[2, 3, 4, 5, 6, 7, 8].map((s) => `<job-1.${s}.sub-1@cloudjobs>`),
      ]);
      const job = (await f.jobs.getJob('job-1'))!;
      const failed = (await f.jobs.history('job-1')).at(-1)!;
      const expected = toEmail(jobStatusEvent(job, failed), 'https://jobs.example.com');
      expect(f.email.requests.at(-1)).toEqual({
        to: mailbox,
        subject: expected.subject,
        text: expected.text,
        messageId: '<job-1.8.sub-1@cloudjobs>',
      });
      expect(expected.subject).toBe('[cloudjobs] name-of-job-1 FAILED (TASK_FAILED)');
      expect(expected.text).toContain('https://jobs.example.com/api/jobs/job-1');
      expect(expected.text).toContain('t2=3');
      expect((await f.row(8))!.body).toBe(JSON.stringify(expected));
      expect((await f.row(1))!.attempts.map((a) => [a.outcome, a.statusCode])).toEqual([
        ['failed', 451],
        ['delivered', 250],
      ]);
    });

    it('should fail the attempt, saying email is not configured, without an email sender', async () => {
      await f.subscribe({ target: { kind: 'email', address: mailbox } });
      await f.submit();

      expect(await f.notifier({ email: undefined }).drain(f.kickOf())).toEqual({
        outcome: 'waiting-to-retry',
        delivered: 0,
      });

      expect(f.email.requests).toEqual([]);
      expect(f.webhooks.requests).toEqual([]);
      const first = (await f.row(1))!;
      expect(first.status).toBe('retrying');
      expect(first.attempts).toEqual([
        {
          at: f.now.toISOString(),
          durationMs: 0,
          outcome: 'failed',
          error: expect.stringMatching(/email is not configured/) as string,
        },
      ]);
    });
  });
});

/* eslint-disable @typescript-eslint/require-await -- fakes keep the async signatures of what they stand in for */
import { beforeEach, describe, expect, it } from 'vitest';
import { ACTIVE_PATH, type JobStatus, type TaskStatus } from '../../../shared/domain/lifecycle.js';
import {
  CLOUDEVENTS_BATCH_JSON,
  CLOUDEVENTS_JSON,
  jobStatusEvent,
  taskStatusEvent,
  toTaskCloudEvent,
  outcomeOf,
  toCloudEvent,
  toEmail,
  type CloudEvent,
} from '../../../shared/domain/notifications.js';
import { verifyWebhook } from '../../../shared/domain/webhooks.js';
import { loadConfig } from '../../../shared/config.js';
import { NotFoundError } from '../../../shared/errors.js';
import type { Caller } from '../../../shared/identity.js';
import { JobsApi } from '../../../shared/jobs/jobsApi.js';
import { SubscriptionsApi, subscriptionView } from '../../../shared/notifications/subscriptionsApi.js';
import {
  Notifier,
  type DeliveryKick,
  type NotifierSettings,
} from '../../../shared/notifications/notifier.js';
import type {
  EmailRequest,
  EmailSender,
  SendResult,
  WebhookRequest,
  WebhookSender,
} from '../../../shared/notifications/senders.js';
import { isTaskBatch } from '../../../shared/store/deliveryStore.js';
import type { StatusChange, TaskUpdate } from '../../../shared/store/jobStore.js';
import type { SubscriptionRecord } from '../../../shared/store/subscriptionStore.js';
import { MemoryDeliveryStore, MemoryJobStore, MemorySubscriptionStore } from '../../support/memoryStores.js';
import { RecordingTelemetry } from '../../support/telemetry.js';
import { METRICS } from '../../../shared/telemetry.js';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const OWNER_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const OTHER_SECRET = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
const URL_A = 'https://hooks.example.com/a';

const SETTINGS: NotifierSettings = {
  retryScheduleSeconds: [5, 30, 300],
  attemptTimeoutMs: 10_000,
  backstopMs: 60_000,
};

/** What a fake endpoint answers: an HTTP status, or no answer at all (a connection error). */
type Reply = number | { error: string };

const resultOf = (reply: Reply): SendResult =>
  typeof reply === 'number'
    ? { outcome: outcomeOf(reply), statusCode: reply, durationMs: 12 }
    : { outcome: 'failed', error: reply.error, durationMs: 3 };

/** A webhook endpoint that records every request and answers from a script (then 200). */
class FakeWebhooks implements WebhookSender {
  readonly requests: WebhookRequest[] = [];
  readonly script: Reply[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Runs while a request is in flight, before it is answered. */
  during?: (request: WebhookRequest) => Promise<void>;
  /** Makes the next post throw, as a sender must not. */
  throwNext = false;

  async post(request: WebhookRequest): Promise<SendResult> {
    this.requests.push(request);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // Let whatever else is running interleave, as it would while a real request is out.
      for (let i = 0; i < 20; i++) await Promise.resolve();
      await this.during?.(request);
      if (this.throwNext) {
        this.throwNext = false;
        throw new Error('socket hang up');
      }
      return resultOf(this.script.shift() ?? 200);
    } finally {
      this.inFlight--;
    }
  }
}

/** A mail server that records every message and answers from a script (then accepts). */
class FakeEmail implements EmailSender {
  readonly requests: EmailRequest[] = [];
  readonly script: SendResult[] = [];

  async send(request: EmailRequest): Promise<SendResult> {
    this.requests.push(request);
    return this.script.shift() ?? { outcome: 'delivered', statusCode: 250, durationMs: 5 };
  }
}

/** The statuses after PENDING on the way to FINISHED. */
const PATH: JobStatus[] = [...ACTIVE_PATH.slice(1), 'FINISHED'];

const seqOf = (request: { id: string }) => Number(request.id.split(':')[1]);

describe('notification delivery', () => {
  let now: Date;
  let jobs: MemoryJobStore;
  let subscriptions: MemorySubscriptionStore;
  let deliveries: MemoryDeliveryStore;
  let webhooks: FakeWebhooks;
  let email: FakeEmail;
  let random: number;

  const notifier = (
    options: {
      settings?: Partial<NotifierSettings>;
      email?: EmailSender | undefined;
      telemetry?: RecordingTelemetry;
    } = {},
  ) => {
    const mail = 'email' in options ? options.email : email;
    return new Notifier({
      jobs,
      subscriptions,
      deliveries,
      webhooks,
      ...(mail ? { email: mail } : {}),
      ...(options.telemetry ? { telemetry: options.telemetry } : {}),
      settings: { ...SETTINGS, ...options.settings },
      now: () => now,
      random: () => random,
    });
  };

  const tick = (ms = 1_000) => {
    now = new Date(now.getTime() + ms);
  };
  const at = (ms: number) => new Date(now.getTime() + ms).toISOString();

  const subscribe = async (over: Partial<SubscriptionRecord> = {}): Promise<SubscriptionRecord> => {
    const subscription: SubscriptionRecord = {
      id: 'sub-1',
      owner: 'alice',
      target: { kind: 'webhook', url: URL_A },
      events: ['job.*'],
      enabled: true,
      perJob: false,
      createdAt: new Date(now.getTime() - 3_600_000).toISOString(),
      secret: SECRET,
      ...over,
    };
    await subscriptions.create(subscription);
    return subscription;
  };

  const createJob = async (id = 'job-1', owner = 'alice') => {
    await jobs.createJob({
      id,
      owner,
      spec: { name: 'j', tasks: [] },
      name: `name-of-${id}`,
      pool: 'p',
      tags: {},
      taskCount: 2,
      at: now.toISOString(),
    });
    return id;
  };

  /** Records the job's next status a second later and fans the change out, as job-events does. */
  const change = async (id: string, to: JobStatus, extra: Partial<StatusChange> = {}) => {
    tick();
    const { job } = await jobs.recordStatus(id, {
      to,
      message: `moved to ${to}`,
      at: now.toISOString(),
      ...(to === 'FINISHED' ? { condition: 'NORMAL_COMPLETION' as const } : {}),
      ...extra,
    });
    return notifier().fanOut({ type: 'job.status.changed', owner: job.owner, jobId: id, status: to });
  };

  /** Moves a job along the path until it reaches `to`; returns every kick on the way. */
  const advanceTo = async (id: string, to: JobStatus) => {
    const kicks: DeliveryKick[] = [];
    const current = (await jobs.getJob(id))!.status;
    for (const status of PATH.slice(PATH.indexOf(current) + 1, PATH.indexOf(to) + 1)) {
      kicks.push(...(await change(id, status)));
    }
    return kicks;
  };

  /** A job's first change (PENDING), fanned out. */
  const submit = async (id = 'job-1', owner = 'alice') => {
    await createJob(id, owner);
    return notifier().fanOut({ type: 'job.status.changed', owner, jobId: id, status: 'PENDING' });
  };

  const kickOf = (subscriptionId = 'sub-1', jobId = 'job-1', owner = 'alice'): DeliveryKick => ({
    owner,
    subscriptionId,
    jobId,
  });

  /** A stream's job event deliveries, whole, in sequence order. */
  const rows = async (subscriptionId = 'sub-1', jobId = 'job-1') =>
    [...deliveries.rows.values()]
      .filter((r) => r.subscriptionId === subscriptionId && r.jobId === jobId && !isTaskBatch(r))
      .sort((a, b) => a.sequence - b.sequence)
      .map((r) => structuredClone(r));
  /** A stream's task batches, whole, in sequence order. */
  const taskRows = async (subscriptionId = 'sub-1', jobId = 'job-1') =>
    [...deliveries.rows.values()]
      .filter((r) => r.subscriptionId === subscriptionId && r.jobId === jobId && isTaskBatch(r))
      .sort((a, b) => a.sequence - b.sequence)
      .map((r) => structuredClone(r));
  const row = async (sequence: number, subscriptionId = 'sub-1', jobId = 'job-1') =>
    (await rows(subscriptionId, jobId)).find((r) => r.sequence === sequence);
  const sent = () => webhooks.requests.map((r) => r.id);
  const verified = (request: WebhookRequest, secret: string) =>
    verifyWebhook(
      secret,
      { id: request.id, timestamp: request.timestamp, body: request.body },
      request.signature,
      Math.floor(now.getTime() / 1000),
    );

  const ALICE: Caller = { owner: 'alice', admin: false, via: 'token' };
  /** The jobs and subscriptions APIs on the same stores, wired as the composition root wires them. */
  const apis = () => {
    const config = loadConfig({
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      BATCH_ACCOUNT_URL: 'http://127.0.0.1:1',
    });
    const jobsApi: JobsApi = new JobsApi({
      store: jobs,
      limits: config.limits,
      defaultPool: 'p',
      defaultLogsContainer: 'logs',
      dataContainer: 'jobs',
      forgetNotifications: (owner, jobId) => subscriptionsApi.forgetJob(owner, jobId),
      now: () => now,
    });
    const subscriptionsApi = new SubscriptionsApi({
      store: subscriptions,
      deliveries,
      jobs: jobsApi,
      webhooks: { allowHttp: false, allowLoopback: false },
      email: true,
      now: () => now,
    });
    return { jobs: jobsApi, subscriptions: subscriptionsApi };
  };

  /** The CloudEvent a history entry of a job should become. */
  const expectedCloudEvent = async (jobId: string, sequence: number): Promise<CloudEvent> => {
    const job = (await jobs.getJob(jobId))!;
    const entry = (await jobs.history(jobId)).find((e) => e.sequence === sequence)!;
    return toCloudEvent(jobStatusEvent(job, entry));
  };

  beforeEach(() => {
    now = new Date('2026-11-23T10:00:00.000Z');
    jobs = new MemoryJobStore();
    subscriptions = new MemorySubscriptionStore();
    deliveries = new MemoryDeliveryStore();
    webhooks = new FakeWebhooks();
    email = new FakeEmail();
    random = 0.5;
  });

  describe('fan-out', () => {
    it("should wake one stream per matching subscription of the job's owner, and none of another owner's", async () => {
      await subscribe({ id: 'a' });
      await subscribe({ id: 'b', events: ['*'] });
      await subscribe({ id: 'c', owner: 'bob' });

      const kicks = await submit();

      expect(kicks.sort((x, y) => x.subscriptionId.localeCompare(y.subscriptionId))).toEqual([
        { owner: 'alice', subscriptionId: 'a', jobId: 'job-1' },
        { owner: 'alice', subscriptionId: 'b', jobId: 'job-1' },
      ]);
      expect(await deliveries.dueEntry('c', 'job-1')).toBeUndefined();
      expect([...deliveries.dueEntries.keys()].sort()).toEqual(['a|job-1', 'b|job-1']);
    });

    it('should honour the statuses, job, enabled, expiry and event type filters', async () => {
      await createJob();
      await subscribe({ id: 'every' });
      await subscribe({ id: 'running', statuses: ['RUNNING', 'FAILED'] });
      await subscribe({ id: 'finished', statuses: ['FINISHED'] });
      await subscribe({ id: 'this-job', jobId: 'job-1' });
      await subscribe({ id: 'other-job', jobId: 'job-2' });
      await subscribe({ id: 'disabled', enabled: false });
      await subscribe({ id: 'expired', expiresAt: at(-1) });
      await subscribe({ id: 'not-expired', expiresAt: at(3_600_000) });
      await subscribe({ id: 'tasks-only', events: ['task.*'] });
      await subscribe({ id: 'other-type', events: ['job.other.thing'] });

      const kicks = await notifier().fanOut({
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
      await subscribe({ id: 'a' });
      await subscribe({ id: 'b' });

      await submit();

      for (const id of ['a', 'b']) {
        expect(await deliveries.dueEntry(id, 'job-1')).toMatchObject({
          owner: 'alice',
          subscriptionId: id,
          jobId: 'job-1',
          dueAt: at(60_000),
        });
      }
    });

    it('should keep the earlier due time when a stream is woken again', async () => {
      await subscribe();
      await submit();
      const first = at(60_000);

      await change('job-1', 'PROCESSING_INPUTS');

      expect((await deliveries.dueEntry('sub-1', 'job-1'))!.dueAt).toBe(first);
    });

    it('should wake nothing and mark nothing due when no subscription wants the event', async () => {
      await subscribe({ statuses: ['FINISHED'] });

      expect(await submit()).toEqual([]);
      expect(deliveries.dueEntries.size).toBe(0);
    });

    it('should let the sweep find a stream whose wake-up was lost, once the backstop has passed', async () => {
      await subscribe();
      await submit();

      expect(await notifier().sweep()).toEqual([]);
      tick(59_999);
      expect(await notifier().sweep()).toEqual([]);
      tick(1);
      expect(await notifier().sweep()).toEqual([kickOf()]);
      expect((await deliveries.dueEntry('sub-1', 'job-1'))!.dueAt).toBe(at(60_000));
      expect(await notifier().sweep()).toEqual([]);

      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'caught-up', delivered: 1 });
      expect(sent()).toEqual(['job-1:1']);
    });
  });

  describe('draining a stream', () => {
    it('should deliver every change in sequence order, signed per Standard Webhooks', async () => {
      await subscribe();
      const kicks = [...(await submit()), ...(await advanceTo('job-1', 'RUNNING'))];
      expect(kicks).toHaveLength(7);

      const result = await notifier().drain(kicks[0]!);

      expect(result).toEqual({ outcome: 'caught-up', delivered: 7 });
      expect(sent()).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => `job-1:${n}`));
      for (const [i, request] of webhooks.requests.entries()) {
        expect(request.url).toBe(URL_A);
        expect(request.contentType).toBe(CLOUDEVENTS_JSON);
        expect(request.contentType).toBe('application/cloudevents+json');
        expect(request.timestamp).toBe(Math.floor(now.getTime() / 1000));
        expect(verified(request, SECRET)).toBe(true);
        expect(verified(request, OTHER_SECRET)).toBe(false);
        expect(verified({ ...request, body: request.body.replace('alice', 'mallory') }, SECRET)).toBe(false);
        const body = JSON.parse(request.body) as CloudEvent;
        expect(body).toEqual(await expectedCloudEvent('job-1', i + 1));
        expect(body.id).toBe(request.id);
        expect(body.data.sequence).toBe(i + 1);
      }
      const stored = await rows();
      expect(stored.map((r) => [r.id, r.sequence, r.status])).toEqual(
        [1, 2, 3, 4, 5, 6, 7].map((n) => [`job-1:${n}`, n, 'delivered']),
      );
      for (const [i, r] of stored.entries()) {
        expect(r.body).toBe(webhooks.requests[i]!.body);
        expect(r.eventType).toBe('job.status.changed');
        expect(r.attempts).toEqual([
          { at: now.toISOString(), durationMs: 12, outcome: 'delivered', statusCode: 200 },
        ]);
        expect(r.claimedUntil).toBeUndefined();
        expect(r.nextAttemptAt).toBeUndefined();
      }
      expect(await deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should carry the task counts and the time of the change, not of the sending', async () => {
      await subscribe();
      await submit();
      const taskCounts = {
        PENDING: 0,
        QUEUED: 1,
        RUNNING: 1,
        SUCCEEDED: 0,
        FAILED: 0,
        SKIPPED: 0,
        CANCELLED: 0,
      };
      await change('job-1', 'PROCESSING_INPUTS', { taskCounts });
      const changedAt = now.toISOString();
      tick(3_600_000);

      await notifier().drain(kickOf());

      const second = JSON.parse(webhooks.requests[1]!.body) as CloudEvent;
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
      const first = JSON.parse(webhooks.requests[0]!.body) as CloudEvent;
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
      await subscribe();
      const kicks = [...(await submit()), ...(await advanceTo('job-1', 'STAGING_INPUTS'))];
      await notifier().drain(kicks[0]!);

      expect(await notifier().drain(kicks[1]!)).toEqual({ outcome: 'caught-up', delivered: 0 });
      expect(sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3']);
    });

    it('should deliver only the changes into the statuses the subscription asks for', async () => {
      await subscribe({ statuses: ['RUNNING', 'FINISHED'] });
      await createJob();
      const kicks = await advanceTo('job-1', 'FINISHED');
      expect(kicks).toHaveLength(2);

      expect(await notifier().drain(kicks[1]!)).toEqual({ outcome: 'caught-up', delivered: 2 });

      expect(sent()).toEqual(['job-1:7', 'job-1:9']);
      expect((await rows()).map((r) => r.sequence)).toEqual([7, 9]);
    });

    it("should keep one subscription's stream apart from another's and from another job's", async () => {
      await subscribe({ id: 'a' });
      await subscribe({
        id: 'b',
        secret: OTHER_SECRET,
        target: { kind: 'webhook', url: 'https://b.example.com/' },
      });
      await submit('job-1');
      await submit('job-2');
      await advanceTo('job-1', 'STAGING_INPUTS');

      await notifier().drain(kickOf('a', 'job-1'));
      await notifier().drain(kickOf('b', 'job-2'));

      expect(sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3', 'job-2:1']);
      expect(verified(webhooks.requests[3]!, OTHER_SECRET)).toBe(true);
      expect(webhooks.requests[3]!.url).toBe('https://b.example.com/');
      expect(await rows('b', 'job-1')).toEqual([]);
      expect(await deliveries.dueEntry('b', 'job-1')).toBeDefined();
    });
  });

  describe('ordering', () => {
    it('should deliver in order and once when the wake-ups arrive in reverse order', async () => {
      await subscribe();
      const kicks = [...(await submit()), ...(await advanceTo('job-1', 'SUBMITTING_JOB'))];
      expect(kicks).toHaveLength(5);

      const results = [];
      for (const kick of [...kicks].reverse()) results.push(await notifier().drain(kick));

      expect(sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3', 'job-1:4', 'job-1:5']);
      expect(results.map((r) => r.delivered)).toEqual([5, 0, 0, 0, 0]);
    });

    it('should never send a change before the earlier ones are settled, nor twice, when drains run at once', async () => {
      await subscribe();
      const kicks = [...(await submit()), ...(await advanceTo('job-1', 'SUBMITTING_JOB'))];
      const violations: string[] = [];
      webhooks.during = async (request) => {
        const earlier = (await rows()).filter((r) => r.sequence < seqOf(request));
        if (earlier.length !== seqOf(request) - 1)
          violations.push(`${request.id} sent with ${earlier.length} earlier rows`);
        for (const r of earlier)
          if (r.status !== 'delivered' && r.status !== 'dead-lettered')
            violations.push(`${request.id} sent while ${r.id} was ${r.status}`);
      };

      const results = await Promise.all([...kicks, ...kicks].reverse().map((kick) => notifier().drain(kick)));

      expect(violations).toEqual([]);
      expect(sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3', 'job-1:4', 'job-1:5']);
      expect(webhooks.maxInFlight).toBe(1);
      expect(results.reduce((sum, r) => sum + r.delivered, 0)).toBe(5);
      expect((await rows()).every((r) => r.status === 'delivered' && r.attempts.length === 1)).toBe(true);
    });

    it('should answer busy, sending nothing, while another drain is sending the head of the stream', async () => {
      await subscribe();
      await submit();
      let arrived!: () => void;
      const inFlight = new Promise<void>((resolve) => (arrived = resolve));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      webhooks.during = async () => {
        arrived();
        await gate;
      };

      const first = notifier().drain(kickOf());
      await inFlight;
      // A later change arrives while the first is still out: its wake-up must not overtake it.
      const [kick] = await change('job-1', 'PROCESSING_INPUTS');
      expect(await notifier().drain(kick!)).toEqual({ outcome: 'busy', delivered: 0 });
      expect(sent()).toEqual(['job-1:1']);

      release();
      expect(await first).toEqual({ outcome: 'caught-up', delivered: 2 });
      expect(sent()).toEqual(['job-1:1', 'job-1:2']);
      // The wake-up that came during the drain moved the due entry; the drain looked again and cleared it.
      expect(await deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should deliver changes recorded while it is sending, after the one in flight', async () => {
      await subscribe();
      await submit();
      let recorded = false;
      webhooks.during = async () => {
        if (recorded) return;
        recorded = true;
        await change('job-1', 'PROCESSING_INPUTS');
        await change('job-1', 'STAGING_INPUTS');
      };

      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'caught-up', delivered: 3 });

      expect(sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3']);
      expect(await deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should look again, not clear the due entry, when news arrives just as it catches up', async () => {
      await subscribe();
      await submit();
      const dueEntry = deliveries.dueEntry.bind(deliveries);
      let calls = 0;
      // The drain reads the due entry when it starts and again when it finds nothing more to send;
      // the change lands between its last look at the history and that second read.
      deliveries.dueEntry = async (subscriptionId, jobId) => {
        if (++calls === 2) await change('job-1', 'PROCESSING_INPUTS');
        return dueEntry(subscriptionId, jobId);
      };

      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'caught-up', delivered: 2 });

      expect(sent()).toEqual(['job-1:1', 'job-1:2']);
      expect(await deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });
  });

  describe('standing and per-job subscriptions', () => {
    it('should not tell a standing subscription of changes made before it existed', async () => {
      await submit();
      await advanceTo('job-1', 'STAGING_JOB');
      tick();
      await subscribe({ createdAt: now.toISOString() });
      const kicks = await advanceTo('job-1', 'QUEUED');

      expect(await notifier().drain(kicks[0]!)).toEqual({ outcome: 'caught-up', delivered: 2 });

      expect(sent()).toEqual(['job-1:5', 'job-1:6']);
      expect((await rows()).map((r) => r.sequence)).toEqual([5, 6]);
    });

    it("should tell a per-job subscription of it all from sequence 1, signed with the owner's secret", async () => {
      await submit();
      await advanceTo('job-1', 'STAGING_INPUTS');
      tick();
      await subscribe({
        id: 'job-1-n1',
        perJob: true,
        jobId: 'job-1',
        secret: '',
        createdAt: now.toISOString(),
      });
      await subscriptions.setOwnerSecret('alice', OWNER_SECRET);

      expect(await notifier().drain(kickOf('job-1-n1'))).toEqual({ outcome: 'caught-up', delivered: 3 });

      expect(sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:3']);
      for (const request of webhooks.requests) {
        expect(verified(request, OWNER_SECRET)).toBe(true);
        expect(verified(request, SECRET)).toBe(false);
      }
      const subscription = await subscriptions.get('alice', 'job-1-n1');
      expect(subscription!.enabled).toBe(true);
      expect(subscription!.disabledReason).toBeUndefined();
    });

    it('should sign with the replaced owner secret too for as long as the rotation overlaps, then not', async () => {
      await subscribe({ id: 'job-1-n1', perJob: true, jobId: 'job-1', secret: '' });
      await subscriptions.setOwnerSecret('alice', OTHER_SECRET);
      await subscriptions.setOwnerSecret('alice', OWNER_SECRET, { previousUntil: at(60_000) });
      await submit();
      await notifier().drain(kickOf('job-1-n1'));
      const during = webhooks.requests.at(-1)!;
      expect(during.signature.split(' ')).toHaveLength(2);
      expect(verified(during, OWNER_SECRET)).toBe(true);
      expect(verified(during, OTHER_SECRET)).toBe(true);

      tick(61_000);
      const [next] = await change('job-1', 'PROCESSING_INPUTS');
      await notifier().drain(next!);
      const after = webhooks.requests.at(-1)!;
      expect(after.id).toBe('job-1:2');
      expect(after.signature.split(' ')).toHaveLength(1);
      expect(verified(after, OWNER_SECRET)).toBe(true);
      expect(verified(after, OTHER_SECRET)).toBe(false);
    });

    it("should sign a standing subscription's webhooks with its replaced secret too for a day after a rotation, then not", async () => {
      const created = await apis().subscriptions.create(ALICE, { url: URL_A });
      const id = created.subscription.id;
      await submit();
      await notifier().drain(kickOf(id));
      expect(verified(webhooks.requests.at(-1)!, created.secret)).toBe(true);

      const rotated = await apis().subscriptions.rotateSecret(ALICE, id);
      expect(rotated.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(rotated.secret).not.toBe(created.secret);
      expect(rotated.previousSignsUntil).toBe(at(24 * 3600_000));
      const view = subscriptionView((await subscriptions.get('alice', id))!);
      expect(JSON.stringify(view)).not.toContain('whsec_');
      expect(view.previousSecretSignsUntil).toBe(rotated.previousSignsUntil);

      const [during] = await change('job-1', 'PROCESSING_INPUTS');
      await notifier().drain(during!);
      const overlapping = webhooks.requests.at(-1)!;
      expect(overlapping.id).toBe('job-1:2');
      expect(overlapping.signature.split(' ')).toHaveLength(2);
      expect(verified(overlapping, rotated.secret)).toBe(true);
      expect(verified(overlapping, created.secret)).toBe(true);

      tick(24 * 3600_000);
      const [after] = await change('job-1', 'STAGING_INPUTS');
      await notifier().drain(after!);
      const last = webhooks.requests.at(-1)!;
      expect(last.id).toBe('job-1:3');
      expect(last.signature.split(' ')).toHaveLength(1);
      expect(verified(last, rotated.secret)).toBe(true);
      expect(verified(last, created.secret)).toBe(false);
    });

    it('should keep the secret each rotation replaced, rotating twice in a row', async () => {
      const created = await apis().subscriptions.create(ALICE, { url: URL_A });
      const first = await apis().subscriptions.rotateSecret(ALICE, created.subscription.id);
      const second = await apis().subscriptions.rotateSecret(ALICE, created.subscription.id);

      const stored = (await subscriptions.get('alice', created.subscription.id))!;
      expect(stored.secret).toBe(second.secret);
      expect(stored.previousSecret?.secret).toBe(first.secret);
    });

    it("should refuse to rotate an email subscription's, a spec webhook's or someone else's secret", async () => {
      const mail = await apis().subscriptions.create(ALICE, { email: 'alice@example.org' });
      await subscribe({ id: 'job-1-n1', perJob: true, jobId: 'job-1', secret: '' });
      const hook = await apis().subscriptions.create(ALICE, { url: URL_A });

      await expect(apis().subscriptions.rotateSecret(ALICE, mail.subscription.id)).rejects.toMatchObject({
        code: 'SUBSCRIPTION_NOT_SIGNED',
        status: 409,
      });
      await expect(apis().subscriptions.rotateSecret(ALICE, 'job-1-n1')).rejects.toMatchObject({
        code: 'SUBSCRIPTION_SIGNED_BY_ACCOUNT',
        status: 409,
      });
      await expect(
        apis().subscriptions.rotateSecret({ ...ALICE, owner: 'mallory' }, hook.subscription.id),
      ).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_FOUND', status: 404 });
      expect((await subscriptions.get('alice', hook.subscription.id))!.secret).toBe(hook.secret);
    });

    it("should disable a per-job subscription once the job's final change has been delivered, not before", async () => {
      await subscribe({ id: 'job-1-n1', perJob: true, jobId: 'job-1', secret: '' });
      await subscriptions.setOwnerSecret('alice', OWNER_SECRET);
      await submit();
      const kicks = await advanceTo('job-1', 'ARCHIVING');
      await notifier().drain(kicks.at(-1)!);
      expect(sent()).toHaveLength(8);
      expect((await subscriptions.get('alice', 'job-1-n1'))!.enabled).toBe(true);

      const [finished] = await change('job-1', 'FINISHED');
      webhooks.script.push(500);
      expect(await notifier().drain(finished!)).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      expect((await subscriptions.get('alice', 'job-1-n1'))!.enabled).toBe(true);

      now = new Date((await row(9, 'job-1-n1'))!.nextAttemptAt!);
      const swept = await notifier().sweep();
      expect(swept).toEqual([kickOf('job-1-n1')]);
      expect((await notifier().drain(swept[0]!)).delivered).toBe(1);

      const subscription = (await subscriptions.get('alice', 'job-1-n1'))!;
      expect(subscription.enabled).toBe(false);
      expect(subscription.disabledReason).toMatch(/FINISHED/);
      expect(sent().slice(-2)).toEqual(['job-1:9', 'job-1:9']);
      expect(verified(webhooks.requests.at(-1)!, OWNER_SECRET)).toBe(true);
      expect(await deliveries.dueEntry('job-1-n1', 'job-1')).toBeUndefined();
      // Disabled, it is woken by nothing more.
      expect(
        await notifier().fanOut({
          type: 'job.status.changed',
          owner: 'alice',
          jobId: 'job-1',
          status: 'FINISHED',
        }),
      ).toEqual([]);
    });

    it('should fail a per-job webhook, sending nothing, when its owner has no signing secret', async () => {
      await subscribe({ id: 'job-1-n1', perJob: true, jobId: 'job-1', secret: '' });
      await submit();

      expect(await notifier().drain(kickOf('job-1-n1'))).toEqual({
        outcome: 'waiting-to-retry',
        delivered: 0,
      });

      expect(sent()).toEqual([]);
      const first = (await row(1, 'job-1-n1'))!;
      expect(first.status).toBe('retrying');
      expect(first.attempts).toEqual([
        {
          at: now.toISOString(),
          durationMs: 0,
          outcome: 'failed',
          error: expect.stringMatching(/signing secret/) as string,
        },
      ]);
    });
  });

  describe('failures and retries', () => {
    it('should wait for the retry and send nothing later meanwhile, then deliver it and the rest in order', async () => {
      await subscribe();
      await submit();
      webhooks.script.push(500);
      const failedAt = now;

      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });

      const retrying = (await row(1))!;
      expect(retrying.status).toBe('retrying');
      expect(retrying.nextAttemptAt).toBe(new Date(failedAt.getTime() + 5_000).toISOString());
      expect(retrying.claimedUntil).toBeUndefined();
      expect(retrying.attempts).toEqual([
        { at: failedAt.toISOString(), durationMs: 12, outcome: 'failed', statusCode: 500 },
      ]);
      expect((await deliveries.dueEntry('sub-1', 'job-1'))!.dueAt).toBe(retrying.nextAttemptAt);

      const kicks = await advanceTo('job-1', 'STAGING_INPUTS');
      for (const kick of kicks) {
        expect(await notifier().drain(kick)).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      }
      expect(sent()).toEqual(['job-1:1']);
      expect((await rows()).map((r) => r.sequence)).toEqual([1]);
      expect((await deliveries.dueEntry('sub-1', 'job-1'))!.dueAt).toBe(retrying.nextAttemptAt);
      expect(await notifier().sweep()).toEqual([]);

      now = new Date(retrying.nextAttemptAt!);
      const swept = await notifier().sweep();
      expect(swept).toEqual([kickOf()]);
      expect(await notifier().drain(swept[0]!)).toEqual({ outcome: 'caught-up', delivered: 3 });

      expect(sent()).toEqual(['job-1:1', 'job-1:1', 'job-1:2', 'job-1:3']);
      expect(webhooks.requests[1]!.body).toBe(webhooks.requests[0]!.body);
      expect(webhooks.requests[1]!.timestamp).toBe(Math.floor(now.getTime() / 1000));
      expect(verified(webhooks.requests[1]!, SECRET)).toBe(true);
      const delivered = (await row(1))!;
      expect(delivered.status).toBe('delivered');
      expect(delivered.nextAttemptAt).toBeUndefined();
      expect(delivered.attempts.map((a) => [a.statusCode, a.outcome])).toEqual([
        [500, 'failed'],
        [200, 'delivered'],
      ]);
      expect(await deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it.each([
      [0, 4_000],
      [0.5, 5_000],
      [0.999_999, 6_000],
    ])('should jitter the wait (random %d → %i ms)', async (value, wait) => {
      random = value;
      await subscribe();
      await submit();
      webhooks.script.push(503);

      await notifier().drain(kickOf());

      expect((await row(1))!.nextAttemptAt).toBe(at(wait));
    });

    it('should dead-letter a delivery once the schedule is spent, recording every attempt, and go on with the next change', async () => {
      await subscribe();
      await submit();
      await advanceTo('job-1', 'PROCESSING_INPUTS');
      webhooks.script.push(500, { error: 'connect ECONNREFUSED 203.0.113.9:443' }, 503);
      const n = notifier({ settings: { retryScheduleSeconds: [5, 30] } });
      const times: string[] = [];

      times.push(now.toISOString());
      expect(await n.drain(kickOf())).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      now = new Date((await row(1))!.nextAttemptAt!);
      times.push(now.toISOString());
      expect(await n.drain((await n.sweep())[0]!)).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      expect((await row(1))!.nextAttemptAt).toBe(at(30_000));
      now = new Date((await row(1))!.nextAttemptAt!);
      times.push(now.toISOString());
      expect(await n.drain((await n.sweep())[0]!)).toEqual({ outcome: 'caught-up', delivered: 1 });

      expect(sent()).toEqual(['job-1:1', 'job-1:1', 'job-1:1', 'job-1:2']);
      const dead = (await row(1))!;
      expect(dead.status).toBe('dead-lettered');
      expect(dead.nextAttemptAt).toBeUndefined();
      expect(dead.claimedUntil).toBeUndefined();
      expect(dead.attempts).toEqual([
        { at: times[0], durationMs: 12, outcome: 'failed', statusCode: 500 },
        { at: times[1], durationMs: 3, outcome: 'failed', error: 'connect ECONNREFUSED 203.0.113.9:443' },
        { at: times[2], durationMs: 12, outcome: 'failed', statusCode: 503 },
      ]);
      expect((await row(2))!.status).toBe('delivered');
      expect(await deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should count failed attempts, and log a dead letter with its job, subscription and delivery', async () => {
      await subscribe();
      await submit();
      webhooks.script.push(500, 503);
      const telemetry = new RecordingTelemetry();
      const n = notifier({ settings: { retryScheduleSeconds: [5] }, telemetry });
      await n.drain(kickOf());
      now = new Date((await row(1))!.nextAttemptAt!);
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
      await subscribe();
      await submit();
      webhooks.script.push(404);

      expect(await notifier({ settings: { retryScheduleSeconds: [] } }).drain(kickOf())).toEqual({
        outcome: 'caught-up',
        delivered: 0,
      });
      expect((await row(1))!.status).toBe('dead-lettered');
    });

    it('should disable the subscription on 410 Gone, dead-letter the delivery and send nothing more', async () => {
      await subscribe();
      const kicks = [...(await submit()), ...(await advanceTo('job-1', 'STAGING_INPUTS'))];
      webhooks.script.push(410);

      expect(await notifier().drain(kicks[0]!)).toEqual({ outcome: 'subscription-disabled', delivered: 0 });

      const subscription = (await subscriptions.get('alice', 'sub-1'))!;
      expect(subscription.enabled).toBe(false);
      expect(subscription.disabledReason).toMatch(/410/);
      const gone = (await row(1))!;
      expect(gone.status).toBe('dead-lettered');
      expect(gone.attempts).toEqual([
        { at: now.toISOString(), durationMs: 12, outcome: 'gone', statusCode: 410 },
      ]);
      expect((await rows()).map((r) => r.sequence)).toEqual([1]);

      expect(await change('job-1', 'STAGING_JOB')).toEqual([]);
      for (const kick of kicks) {
        expect(await notifier().drain(kick)).toEqual({ outcome: 'subscription-disabled', delivered: 0 });
      }
      tick(3_600_000);
      for (const kick of await notifier().sweep()) await notifier().drain(kick);
      expect(sent()).toEqual(['job-1:1']);
      expect(await deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should send nothing after another drain’s 410, even holding the subscription as it was before', async () => {
      const before = await subscribe();
      const kicks = [...(await submit()), ...(await advanceTo('job-1', 'STAGING_INPUTS'))];
      webhooks.script.push(410);
      expect(await notifier().drain(kicks[0]!)).toEqual({ outcome: 'subscription-disabled', delivered: 0 });
      // A drain whose subscription read raced ahead of the 410, and whose stream read came after it.
      const get = subscriptions.get.bind(subscriptions);
      let stale = true;
      subscriptions.get = async (owner, id) => {
        if (!stale) return get(owner, id);
        stale = false;
        return before;
      };

      expect(await notifier().drain(kicks[1]!)).toEqual({ outcome: 'subscription-disabled', delivered: 0 });
      expect(sent()).toEqual(['job-1:1']);
    });

    it('should try again after the backstop when a sender throws and leaves its claim', async () => {
      await subscribe();
      await submit();
      webhooks.throwNext = true;

      await expect(notifier().drain(kickOf())).rejects.toThrow('socket hang up');
      expect((await row(1))!.status).toBe('pending');
      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'busy', delivered: 0 });

      tick(60_000);
      const swept = await notifier().sweep();
      expect(swept).toEqual([kickOf()]);
      expect(await notifier().drain(swept[0]!)).toEqual({ outcome: 'caught-up', delivered: 1 });
      expect(sent()).toEqual(['job-1:1', 'job-1:1']);
    });
  });

  describe('manual retries', () => {
    const deadLetter = async () => {
      await subscribe();
      await submit();
      await advanceTo('job-1', 'PROCESSING_INPUTS');
      webhooks.script.push(500);
      await notifier({ settings: { retryScheduleSeconds: [] } }).drain(kickOf());
      expect((await row(1))!.status).toBe('dead-lettered');
      expect(sent()).toEqual(['job-1:1', 'job-1:2']);
    };

    it('should deliver a dead-lettered delivery with one manual attempt', async () => {
      await deadLetter();
      tick(3_600_000);

      const { delivery, kick } = await notifier().redeliver('alice', 'sub-1', 'job-1:1');

      expect(sent()).toEqual(['job-1:1', 'job-1:2', 'job-1:1']);
      const request = webhooks.requests.at(-1)!;
      expect(verified(request, SECRET)).toBe(true);
      expect(request.timestamp).toBe(Math.floor(now.getTime() / 1000));
      expect(delivery.status).toBe('delivered');
      expect(delivery.claimedUntil).toBeUndefined();
      expect(delivery.attempts).toHaveLength(2);
      expect(delivery.attempts[0]!.manual).toBeUndefined();
      expect(delivery.attempts[1]).toEqual({
        at: now.toISOString(),
        durationMs: 12,
        outcome: 'delivered',
        statusCode: 200,
        manual: true,
      });
      expect(kick).toBeUndefined();
      expect(await row(1)).toEqual(delivery);
    });

    /** Every change of two jobs dead-lettered while the endpoint was down: 2 + 3 dead letters. */
    const outage = async () => {
      await subscribe();
      const down = notifier({ settings: { retryScheduleSeconds: [] } });
      for (const [id, to] of [
        ['job-1', 'PROCESSING_INPUTS'],
        ['job-2', 'STAGING_INPUTS'],
      ] as const) {
        await submit(id);
        await advanceTo(id, to);
      }
      webhooks.script.push(...Array<number>(5).fill(503));
      await down.drain(kickOf('sub-1', 'job-1'));
      await down.drain(kickOf('sub-1', 'job-2'));
      expect([...deliveries.rows.values()].map((r) => r.status)).toEqual(Array(5).fill('dead-lettered'));
      webhooks.requests.length = 0;
    };

    it('should try every dead letter again in order, by job then sequence, once the endpoint is back', async () => {
      await outage();

      const result = await notifier().redeliverDeadLetters('alice', 'sub-1', { limit: 25 });

      expect(sent()).toEqual(['job-1:1', 'job-1:2', 'job-2:1', 'job-2:2', 'job-2:3']);
      expect(result.delivered.map((d) => [d.id, d.status])).toEqual(sent().map((id) => [id, 'delivered']));
      expect(result.failed).toBeUndefined();
      expect(result.more).toBe(false);
      for (const request of webhooks.requests) expect(verified(request, SECRET)).toBe(true);
      expect((await row(2))!.attempts.map((a) => a.manual ?? false)).toEqual([false, true]);
    });

    it('should stop at the first dead letter that fails again, trying none after it', async () => {
      await outage();
      webhooks.script.push(200, 503);

      const result = await notifier().redeliverDeadLetters('alice', 'sub-1', { limit: 25 });

      expect(sent()).toEqual(['job-1:1', 'job-1:2']);
      expect(result.delivered.map((d) => d.id)).toEqual(['job-1:1']);
      expect(result.failed).toMatchObject({ id: 'job-1:2', status: 'dead-lettered' });
      expect(result.failed!.attempts.at(-1)).toMatchObject({ statusCode: 503, manual: true });
      expect(result.more).toBe(true);
      expect((await row(1, 'sub-1', 'job-2'))!.attempts).toHaveLength(1);
    });

    it('should take at most limit dead letters, of one job when asked, and say whether more are left', async () => {
      await outage();

      const first = await notifier().redeliverDeadLetters('alice', 'sub-1', { jobId: 'job-2', limit: 2 });
      expect(first.delivered.map((d) => d.id)).toEqual(['job-2:1', 'job-2:2']);
      expect(first.more).toBe(true);
      const second = await notifier().redeliverDeadLetters('alice', 'sub-1', { jobId: 'job-2', limit: 2 });
      expect(second.delivered.map((d) => d.id)).toEqual(['job-2:3']);
      expect(second.more).toBe(false);
      expect(sent()).toEqual(['job-2:1', 'job-2:2', 'job-2:3']);
      expect((await row(1))!.status).toBe('dead-lettered');
    });

    it("should refuse someone else's subscription for a bulk retry, sending nothing", async () => {
      await outage();

      await expect(notifier().redeliverDeadLetters('mallory', 'sub-1', { limit: 25 })).rejects.toMatchObject({
        code: 'SUBSCRIPTION_NOT_FOUND',
      });
      expect(sent()).toEqual([]);
    });

    it('should leave a dead-lettered delivery dead-lettered when the manual attempt fails', async () => {
      await deadLetter();
      webhooks.script.push(502);

      const { delivery, kick } = await notifier().redeliver('alice', 'sub-1', 'job-1:1');

      expect(delivery.status).toBe('dead-lettered');
      expect(delivery.attempts.at(-1)).toEqual({
        at: now.toISOString(),
        durationMs: 12,
        outcome: 'failed',
        statusCode: 502,
        manual: true,
      });
      expect(delivery.nextAttemptAt).toBeUndefined();
      expect(kick).toBeUndefined();
    });

    it('should let the stream go on when a retrying delivery is delivered by hand', async () => {
      await subscribe();
      await submit();
      webhooks.script.push(500);
      await notifier().drain(kickOf());
      const kicks = await advanceTo('job-1', 'STAGING_INPUTS');
      for (const k of kicks) await notifier().drain(k);
      expect(sent()).toEqual(['job-1:1']);

      const { delivery, kick } = await notifier().redeliver('alice', 'sub-1', 'job-1:1');

      expect(delivery.status).toBe('delivered');
      expect(delivery.attempts.map((a) => a.manual ?? false)).toEqual([false, true]);
      expect(kick).toEqual(kickOf());
      expect(await notifier().drain(kick!)).toEqual({ outcome: 'caught-up', delivered: 2 });
      expect(sent()).toEqual(['job-1:1', 'job-1:1', 'job-1:2', 'job-1:3']);
      expect(await deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should not count a failed manual attempt against the schedule', async () => {
      await subscribe();
      await submit();
      webhooks.script.push(500, 500, 500);
      await notifier().drain(kickOf());
      const next = (await row(1))!.nextAttemptAt;

      const { delivery } = await notifier().redeliver('alice', 'sub-1', 'job-1:1');
      expect(delivery.status).toBe('retrying');
      expect(delivery.nextAttemptAt).toBe(next);

      now = new Date(next!);
      await notifier().drain((await notifier().sweep())[0]!);
      // The second automatic attempt failed: the next wait is the schedule's second, 30 s.
      expect((await row(1))!.nextAttemptAt).toBe(at(30_000));
      expect((await row(1))!.attempts.map((a) => a.manual ?? false)).toEqual([false, true, false]);
    });

    it('should return a delivered delivery as it is, sending nothing', async () => {
      await subscribe();
      await submit();
      await notifier().drain(kickOf());

      const { delivery, kick } = await notifier().redeliver('alice', 'sub-1', 'job-1:1');

      expect(delivery.status).toBe('delivered');
      expect(delivery.attempts).toHaveLength(1);
      expect(kick).toBeUndefined();
      expect(sent()).toEqual(['job-1:1']);
    });

    it('should refuse an unknown delivery with DELIVERY_NOT_FOUND', async () => {
      await deadLetter();

      const attempt = notifier().redeliver('alice', 'sub-1', 'job-1:99');

      await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
      await expect(attempt).rejects.toMatchObject({ code: 'DELIVERY_NOT_FOUND', status: 404 });
      expect(sent()).toHaveLength(2);
    });

    it("should refuse someone else's subscription with SUBSCRIPTION_NOT_FOUND", async () => {
      await deadLetter();

      const attempt = notifier().redeliver('bob', 'sub-1', 'job-1:1');

      await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
      await expect(attempt).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_FOUND' });
      await expect(notifier().redeliver('alice', 'no-such-sub', 'job-1:1')).rejects.toMatchObject({
        code: 'SUBSCRIPTION_NOT_FOUND',
      });
      expect(sent()).toHaveLength(2);
      expect((await row(1))!.status).toBe('dead-lettered');
    });
  });

  describe('streams with nothing left to deliver', () => {
    it('should deliver nothing to a deleted subscription and forget its due entry', async () => {
      await subscribe();
      await submit();
      await subscriptions.delete('alice', 'sub-1');

      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'nothing-to-deliver', delivered: 0 });

      expect(sent()).toEqual([]);
      expect(await deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it('should deliver nothing for a deleted job and forget its due entry', async () => {
      await subscribe();
      await submit();
      await jobs.deleteJob('job-1');

      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'nothing-to-deliver', delivered: 0 });

      expect(sent()).toEqual([]);
      expect(await deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
    });

    it("should deliver nothing of another owner's job, even when a wake-up names it", async () => {
      await subscribe();
      await submit('bobs-job', 'bob');

      expect(await notifier().drain(kickOf('sub-1', 'bobs-job'))).toEqual({
        outcome: 'nothing-to-deliver',
        delivered: 0,
      });
      expect(await notifier().drain(kickOf('sub-1', 'bobs-job', 'bob'))).toEqual({
        outcome: 'nothing-to-deliver',
        delivered: 0,
      });
      expect(sent()).toEqual([]);
    });
  });

  describe('deleting a job', () => {
    /** Two finished jobs, each heard of by a standing subscription and one of its own. */
    const twoFinishedJobs = async () => {
      await subscribe();
      await subscriptions.setOwnerSecret('alice', OWNER_SECRET);
      for (const id of ['job-1', 'job-2']) {
        await subscribe({ id: `${id}-n1`, perJob: true, jobId: id, secret: '' });
        const kicks = [...(await submit(id)), ...(await advanceTo(id, 'FINISHED'))];
        for (const kick of kicks) await notifier().drain(kick);
      }
      expect(await rows('sub-1', 'job-1')).toHaveLength(PATH.length + 1);
      expect(await rows('job-1-n1', 'job-1')).toHaveLength(PATH.length + 1);
    };

    it("should forget the job's own subscriptions and every delivery of its events, and nothing else", async () => {
      await twoFinishedJobs();
      await subscribe({ id: 'sub-bob', owner: 'bob' });
      // A stream of the job still due (a wake-up that came after it caught up).
      await deliveries.markDue(kickOf('sub-1', 'job-1'), new Date(at(60_000)));
      const sentBefore = sent().length;

      await apis().jobs.delete(ALICE, 'job-1');

      expect(await subscriptions.get('alice', 'job-1-n1')).toBeUndefined();
      expect(await rows('sub-1', 'job-1')).toEqual([]);
      expect(await rows('job-1-n1', 'job-1')).toEqual([]);
      expect(await deliveries.dueEntry('sub-1', 'job-1')).toBeUndefined();
      // The other job's deliveries, its own subscription, and the standing ones are kept.
      expect(await rows('sub-1', 'job-2')).toHaveLength(PATH.length + 1);
      expect(await rows('job-2-n1', 'job-2')).toHaveLength(PATH.length + 1);
      expect(await subscriptions.get('alice', 'job-2-n1')).toBeDefined();
      expect(await subscriptions.get('alice', 'sub-1')).toBeDefined();
      expect(await subscriptions.get('bob', 'sub-bob')).toBeDefined();
      // A wake-up still on its way finds no job: nothing is sent again, nothing is written again.
      expect(await notifier().drain(kickOf('sub-1', 'job-1'))).toEqual({
        outcome: 'nothing-to-deliver',
        delivered: 0,
      });
      expect(sent()).toHaveLength(sentBefore);
      expect(await rows('sub-1', 'job-1')).toEqual([]);
    });

    it('should keep every delivery of a job that is still running, refusing the delete', async () => {
      await subscribe();
      for (const kick of [...(await submit()), ...(await advanceTo('job-1', 'RUNNING'))]) {
        await notifier().drain(kick);
      }

      await expect(apis().jobs.delete(ALICE, 'job-1')).rejects.toMatchObject({ code: 'JOB_NOT_FINISHED' });

      expect(await rows('sub-1', 'job-1')).toHaveLength(7);
    });

    it('should finish forgetting on a retried delete after a failure left the job gone', async () => {
      await twoFinishedJobs();
      const forget = deliveries.forget.bind(deliveries);
      let failures = 1;
      deliveries.forget = async (subscriptionId, options) => {
        if (failures-- > 0) throw new Error('table storage is unavailable');
        return forget(subscriptionId, options);
      };
      const jobsApi = apis().jobs;

      await expect(jobsApi.delete(ALICE, 'job-1')).rejects.toThrow('table storage is unavailable');
      expect(await jobs.getJob('job-1')).toBeUndefined();
      await expect(jobsApi.delete(ALICE, 'job-1')).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });

      expect(await rows('sub-1', 'job-1')).toEqual([]);
      expect(await rows('job-1-n1', 'job-1')).toEqual([]);
      expect(await subscriptions.get('alice', 'job-1-n1')).toBeUndefined();
      expect(await rows('sub-1', 'job-2')).toHaveLength(PATH.length + 1);
    });

    it("should not let a delete of another owner's job id touch that owner's deliveries", async () => {
      await twoFinishedJobs();

      await expect(
        apis().jobs.delete({ owner: 'mallory', admin: false, via: 'token' }, 'job-1'),
      ).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });

      expect(await rows('sub-1', 'job-1')).toHaveLength(PATH.length + 1);
      expect(await subscriptions.get('alice', 'job-1-n1')).toBeDefined();
    });
  });

  describe('task events', () => {
    /** Records task changes as the signal handlers do (logged) and fans the news out. */
    const taskChange = async (
      changes: Array<[taskId: string, status: TaskStatus, extra?: Partial<TaskUpdate>]>,
      jobId = 'job-1',
    ) => {
      tick();
      const result = await jobs.updateTasks(
        jobId,
        changes.map(([id, status, extra]) => ({ id, status, attempt: 1, at: now.toISOString(), ...extra })),
        { log: true },
      );
      const statuses = [...new Set(result.changes.map((c) => c.task.status))];
      return statuses.length > 0
        ? notifier().fanOut({ type: 'task.status.changed', owner: 'alice', jobId, statuses })
        : [];
    };
    const withTasks = async (ids: string[], jobId = 'job-1') => {
      await jobs.putTasks(
        jobId,
        ids.map((id) => ({ id, status: 'QUEUED' as const })),
      );
    };
    /** What each request carried: a job event's id, or a task batch's event ids. */
    const received = () =>
      webhooks.requests.map((r) =>
        r.contentType === CLOUDEVENTS_BATCH_JSON
          ? (JSON.parse(r.body) as CloudEvent[]).map((e) => e.id)
          : r.id,
      );

    it('should send task changes in batches, each before the job change that followed it', async () => {
      await subscribe({ events: ['job.*', 'task.*'] });
      await submit();
      await advanceTo('job-1', 'QUEUED');
      await withTasks(['a', 'b']);
      await taskChange([['a', 'RUNNING']]);
      await taskChange([['b', 'RUNNING']]);
      await change('job-1', 'RUNNING');
      await taskChange([['a', 'SUCCEEDED', { exitCode: 0 }]]);
      await taskChange([['b', 'FAILED', { exitCode: 3, failure: { code: 'EXIT_CODE', message: 'exit 3' } }]]);
      await change('job-1', 'ARCHIVING');
      await change('job-1', 'FAILED', { condition: 'TASK_FAILED' });

      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'caught-up', delivered: 11 });

      expect(received()).toEqual([
        ...[1, 2, 3, 4, 5, 6].map((n) => `job-1:${n}`),
        ['job-1:t1', 'job-1:t2'],
        'job-1:7',
        ['job-1:t3', 'job-1:t4'],
        'job-1:8',
        'job-1:9',
      ]);
      const batch = webhooks.requests[8]!;
      expect(batch.contentType).toBe('application/cloudevents-batch+json');
      expect(batch.id).toBe('job-1:t3');
      expect(verified(batch, SECRET)).toBe(true);
      const job = (await jobs.getJob('job-1'))!;
      const log = await jobs.taskLog('job-1', { after: 2, limit: 10 });
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
      expect((await taskRows()).map((r) => [r.id, r.sequence, r.lastSequence, r.events, r.status])).toEqual([
        ['job-1:t1', 1, 2, 2, 'delivered'],
        ['job-1:t3', 3, 4, 2, 'delivered'],
      ]);
    });

    it('should send a job change past task changes its status filter does not take', async () => {
      await subscribe({ events: ['job.*', 'task.*'], statuses: ['FAILED', 'FINISHED'] });
      await submit();
      await advanceTo('job-1', 'RUNNING');
      await withTasks(['a', 'b']);
      await taskChange([['a', 'SUCCEEDED']]);
      await taskChange([['b', 'SUCCEEDED']]);
      const kicks = await advanceTo('job-1', 'FINISHED');
      expect(kicks.length).toBeGreaterThan(0);

      for (const kick of kicks) await notifier().drain(kick);

      expect(received()).toEqual(['job-1:9']);
    });

    it('should wake only task subscribers that want one of the statuses', async () => {
      await createJob();
      await withTasks(['a']);
      await subscribe({ id: 'all-tasks', events: ['task.*'] });
      await subscribe({ id: 'failures', events: ['task.*'], statuses: ['FAILED'] });
      await subscribe({ id: 'jobs', events: ['job.*'] });
      await subscribe({ id: 'other-job', events: ['task.*'], jobId: 'job-2' });

      // Not woken at once: made due now, for the sweep to drain in a batch with what follows.
      expect(await taskChange([['a', 'RUNNING']])).toEqual([]);
      expect([...deliveries.dueEntries.values()].map((d) => [d.subscriptionId, d.dueAt])).toEqual([
        ['all-tasks', now.toISOString()],
      ]);
      const first = now.toISOString();
      await taskChange([['a', 'FAILED']]);
      expect([...deliveries.dueEntries.values()].map((d) => [d.subscriptionId, d.dueAt])).toEqual([
        ['all-tasks', first],
        ['failures', now.toISOString()],
      ]);
      expect((await notifier().sweep()).map((k) => k.subscriptionId)).toEqual(['all-tasks', 'failures']);
    });

    it('should send only the task changes a status filter takes, and skip past the rest', async () => {
      await subscribe({ events: ['task.*'], statuses: ['FAILED'] });
      await createJob();
      await withTasks(['a', 'b', 'c', 'd']);
      await taskChange([
        ['a', 'RUNNING'],
        ['b', 'RUNNING'],
        ['c', 'RUNNING'],
      ]);
      await taskChange([['a', 'SUCCEEDED']]);
      await taskChange([['b', 'FAILED', { exitCode: 1 }]]);
      await taskChange([['c', 'SUCCEEDED']]);

      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'caught-up', delivered: 1 });
      expect(received()).toEqual([['job-1:t5']]);
      // The batch covers what it skipped, so a later look starts after it.
      expect((await taskRows()).map((r) => [r.sequence, r.lastSequence, r.events])).toEqual([[1, 6, 1]]);
      await taskChange([['d', 'FAILED', { exitCode: 2 }]]);
      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'caught-up', delivered: 1 });
      expect(received()).toEqual([['job-1:t5'], ['job-1:t7']]);
    });

    it('should batch at most 100 task changes, and not send a batch before the one before is delivered', async () => {
      await subscribe({ events: ['task.*'] });
      await createJob();
      const ids = Array.from({ length: 250 }, (_, i) => `t${i}`);
      await withTasks(ids);
      await taskChange(ids.map((id) => [id, 'RUNNING']));
      webhooks.script.push(500);

      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      expect(received()).toEqual([ids.slice(0, 100).map((_, i) => `job-1:t${i + 1}`)]);

      tick(6_000);
      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'caught-up', delivered: 3 });
      const sizes = received().map((r) => (r as string[]).length);
      expect(sizes).toEqual([100, 100, 100, 50]);
      expect(webhooks.requests.map((r) => r.id)).toEqual([
        'job-1:t1',
        'job-1:t1',
        'job-1:t101',
        'job-1:t201',
      ]);
      expect(webhooks.requests[0]!.body).toBe(webhooks.requests[1]!.body);
    });

    it('should hold a job change back until the task changes before it are delivered', async () => {
      await subscribe({ events: ['job.*', 'task.*'], statuses: ['RUNNING'] });
      await submit();
      await advanceTo('job-1', 'QUEUED');
      await withTasks(['a']);
      await taskChange([['a', 'RUNNING']]);
      await change('job-1', 'RUNNING');
      webhooks.script.push(503);

      expect(await notifier().drain(kickOf())).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      expect(received()).toEqual([['job-1:t1']]);
      tick(6_000);
      const [kick] = await notifier().sweep();
      expect(await notifier().drain(kick!)).toEqual({ outcome: 'caught-up', delivered: 2 });
      expect(received()).toEqual([['job-1:t1'], ['job-1:t1'], 'job-1:7']);
    });

    it('should tell a standing subscription of task changes made after it, not before', async () => {
      await createJob();
      await withTasks(['a', 'b']);
      await taskChange([['a', 'RUNNING']]);
      await subscribe({ events: ['task.*'], createdAt: at(500) });
      await taskChange([['b', 'RUNNING']]);

      await notifier().drain(kickOf());

      expect(received()).toEqual([['job-1:t2']]);
    });

    it('should end a per-job subscription after the job’s final event once its task changes are sent', async () => {
      await subscribe({ id: 'job-1-n1', perJob: true, jobId: 'job-1', events: ['task.*'], secret: '' });
      await subscriptions.setOwnerSecret('alice', OWNER_SECRET);
      await submit();
      await advanceTo('job-1', 'RUNNING');
      await withTasks(['a']);
      await taskChange([['a', 'RUNNING']]);
      await taskChange([['a', 'SUCCEEDED']]);
      const kicks = await advanceTo('job-1', 'FINISHED');
      expect(kicks.map((k) => k.subscriptionId)).toContain('job-1-n1');

      expect(await notifier().drain(kickOf('job-1-n1'))).toEqual({ outcome: 'caught-up', delivered: 1 });
      expect(received()).toEqual([['job-1:t1', 'job-1:t2']]);
      expect(verified(webhooks.requests[0]!, OWNER_SECRET)).toBe(true);
      expect((await subscriptions.get('alice', 'job-1-n1'))!.enabled).toBe(false);
    });

    it('should email one message per batch, naming each task and its exit code', async () => {
      await subscribe({ target: { kind: 'email', address: 'me@example.org' }, events: ['task.*'] });
      await createJob();
      await withTasks(['a', 'b']);
      await taskChange([
        ['a', 'RUNNING'],
        ['b', 'RUNNING'],
      ]);
      await taskChange([['a', 'FAILED', { exitCode: 2 }]]);

      await notifier().drain(kickOf());

      expect(email.requests).toHaveLength(1);
      const [message] = email.requests;
      expect(message!.subject).toBe('[cloudjobs] name-of-job-1: 3 task changes (2 RUNNING, 1 FAILED)');
      expect(message!.text).toContain('a: RUNNING -> FAILED, exit code 2');
      expect(message!.text).toContain('b: QUEUED -> RUNNING');
      expect(message!.messageId).toBe('<job-1.t1.sub-1@cloudjobs>');
    });

    it('should redeliver a dead-lettered task batch by its id', async () => {
      await subscribe({ events: ['task.*'] });
      await createJob();
      await withTasks(['a']);
      await taskChange([['a', 'RUNNING']]);
      webhooks.script.push(500, 500, 500, 500);
      await notifier().drain(kickOf());
      for (const wait of [6_000, 36_000, 360_000]) {
        tick(wait);
        await notifier().drain(kickOf());
      }
      expect((await taskRows())[0]!.status).toBe('dead-lettered');

      const { delivery } = await notifier().redeliver('alice', 'sub-1', 'job-1:t1');

      expect(delivery.status).toBe('delivered');
      expect(webhooks.requests).toHaveLength(5);
      expect(new Set(webhooks.requests.map((r) => r.body)).size).toBe(1);
    });

    it('should not send task changes to a subscription that did not opt in', async () => {
      await subscribe({ events: ['*'] });
      await submit();
      await advanceTo('job-1', 'RUNNING');
      await withTasks(['a']);
      await taskChange([['a', 'RUNNING']]);

      await notifier().drain(kickOf());

      expect(received()).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => `job-1:${n}`));
      expect(await taskRows()).toEqual([]);
    });
  });

  describe('email', () => {
    const mailbox = 'ops@example.com';

    it('should send an email subscription the rendered email, with a message id stable across attempts', async () => {
      await subscribe({ target: { kind: 'email', address: mailbox } });
      await submit();
      await advanceTo('job-1', 'RUNNING');
      await change('job-1', 'FAILED', {
        condition: 'TASK_FAILED',
        exitCodes: { t2: 3 },
        message: 'task t2 failed',
      });
      email.script.push({ outcome: 'failed', statusCode: 451, durationMs: 4 });
      const n = notifier({ settings: { publicUrl: 'https://jobs.example.com', retryScheduleSeconds: [0] } });

      expect(await n.drain(kickOf())).toEqual({ outcome: 'waiting-to-retry', delivered: 0 });
      expect(await n.drain((await n.sweep())[0]!)).toEqual({ outcome: 'caught-up', delivered: 8 });

      expect(webhooks.requests).toEqual([]);
      expect(email.requests.map((r) => r.messageId)).toEqual([
        '<job-1.1.sub-1@cloudjobs>',
        '<job-1.1.sub-1@cloudjobs>',
        ...[2, 3, 4, 5, 6, 7, 8].map((s) => `<job-1.${s}.sub-1@cloudjobs>`),
      ]);
      const job = (await jobs.getJob('job-1'))!;
      const failed = (await jobs.history('job-1')).at(-1)!;
      const expected = toEmail(jobStatusEvent(job, failed), 'https://jobs.example.com');
      expect(email.requests.at(-1)).toEqual({
        to: mailbox,
        subject: expected.subject,
        text: expected.text,
        messageId: '<job-1.8.sub-1@cloudjobs>',
      });
      expect(expected.subject).toBe('[cloudjobs] name-of-job-1 FAILED (TASK_FAILED)');
      expect(expected.text).toContain('https://jobs.example.com/api/jobs/job-1');
      expect(expected.text).toContain('t2=3');
      expect((await row(8))!.body).toBe(JSON.stringify(expected));
      expect((await row(1))!.attempts.map((a) => [a.outcome, a.statusCode])).toEqual([
        ['failed', 451],
        ['delivered', 250],
      ]);
    });

    it('should fail the attempt, saying email is not configured, without an email sender', async () => {
      await subscribe({ target: { kind: 'email', address: mailbox } });
      await submit();

      expect(await notifier({ email: undefined }).drain(kickOf())).toEqual({
        outcome: 'waiting-to-retry',
        delivered: 0,
      });

      expect(email.requests).toEqual([]);
      expect(webhooks.requests).toEqual([]);
      const first = (await row(1))!;
      expect(first.status).toBe('retrying');
      expect(first.attempts).toEqual([
        {
          at: now.toISOString(),
          durationMs: 0,
          outcome: 'failed',
          error: expect.stringMatching(/email is not configured/) as string,
        },
      ]);
    });
  });
});

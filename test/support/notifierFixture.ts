/* eslint-disable @typescript-eslint/require-await -- fakes keep the async signatures of what they stand in for */
import { ACTIVE_PATH, type JobStatus } from '../../shared/domain/lifecycle.js';
import {
  jobStatusEvent,
  outcomeOf,
  toCloudEvent,
  type CloudEvent,
} from '../../shared/domain/notifications.js';
import { verifyWebhook } from '../../shared/domain/webhooks.js';
import { loadConfig } from '../../shared/config.js';
import type { Caller } from '../../shared/identity.js';
import { JobsApi } from '../../shared/jobs/jobsApi.js';
import { SubscriptionsApi } from '../../shared/notifications/subscriptionsApi.js';
import { Notifier, type DeliveryKick, type NotifierSettings } from '../../shared/notifications/notifier.js';
import type {
  EmailRequest,
  EmailSender,
  SendResult,
  WebhookRequest,
  WebhookSender,
} from '../../shared/notifications/senders.js';
import { isTaskBatch } from '../../shared/store/deliveryStore.js';
import type { StatusChange } from '../../shared/store/jobStore.js';
import type { SubscriptionRecord } from '../../shared/store/subscriptionStore.js';
import { MemoryDeliveryStore, MemoryJobStore, MemorySubscriptionStore } from './memoryStores.js';
import type { RecordingTelemetry } from './telemetry.js';

export const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
export const OWNER_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
export const OTHER_SECRET = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
export const URL_A = 'https://hooks.example.com/a';

export const SETTINGS: NotifierSettings = {
  retryScheduleSeconds: [5, 30, 300],
  attemptTimeoutMs: 10_000,
  backstopMs: 60_000,
};

/** What a fake endpoint answers: an HTTP status, or no answer at all (a connection error). */
export type Reply = number | { error: string };

export const resultOf = (reply: Reply): SendResult =>
  typeof reply === 'number'
    ? { outcome: outcomeOf(reply), statusCode: reply, durationMs: 12 }
    : { outcome: 'failed', error: reply.error, durationMs: 3 };

/** A webhook endpoint that records every request and answers from a script (then 200). */
export class FakeWebhooks implements WebhookSender {
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
export class FakeEmail implements EmailSender {
  readonly requests: EmailRequest[] = [];
  readonly script: SendResult[] = [];

  async send(request: EmailRequest): Promise<SendResult> {
    this.requests.push(request);
    return this.script.shift() ?? { outcome: 'delivered', statusCode: 250, durationMs: 5 };
  }
}

/** The statuses after PENDING on the way to FINISHED. */
export const PATH: JobStatus[] = [...ACTIVE_PATH.slice(1), 'FINISHED'];

export const seqOf = (request: { id: string }) => Number(request.id.split(':')[1]);

/** The owner most tests act as. */
export const ALICE: Caller = { owner: 'alice', admin: false, via: 'token' };

/**
 * A notifier on in-memory stores with scripted webhook and email endpoints, and a clock the test
 * moves: what every notifier test starts from. Fresh per test.
 */
export class NotifierFixture {
  now = new Date('2026-11-23T10:00:00.000Z');
  jobs = new MemoryJobStore();
  subscriptions = new MemorySubscriptionStore();
  deliveries = new MemoryDeliveryStore();
  webhooks = new FakeWebhooks();
  email = new FakeEmail();
  random = 0.5;

  readonly notifier = (
    options: {
      settings?: Partial<NotifierSettings>;
      email?: EmailSender | undefined;
      telemetry?: RecordingTelemetry;
    } = {},
  ) => {
    const mail = 'email' in options ? options.email : this.email;
    return new Notifier({
      jobs: this.jobs,
      subscriptions: this.subscriptions,
      deliveries: this.deliveries,
      webhooks: this.webhooks,
      ...(mail ? { email: mail } : {}),
      ...(options.telemetry ? { telemetry: options.telemetry } : {}),
      settings: { ...SETTINGS, ...options.settings },
      now: () => this.now,
      random: () => this.random,
    });
  };

  readonly tick = (ms = 1_000) => {
    this.now = new Date(this.now.getTime() + ms);
  };
  readonly at = (ms: number) => new Date(this.now.getTime() + ms).toISOString();

  readonly subscribe = async (over: Partial<SubscriptionRecord> = {}): Promise<SubscriptionRecord> => {
    const subscription: SubscriptionRecord = {
      id: 'sub-1',
      owner: 'alice',
      target: { kind: 'webhook', url: URL_A },
      events: ['job.*'],
      enabled: true,
      perJob: false,
      createdAt: new Date(this.now.getTime() - 3_600_000).toISOString(),
      secret: SECRET,
      ...over,
    };
    await this.subscriptions.create(subscription);
    return subscription;
  };

  readonly createJob = async (id = 'job-1', owner = 'alice') => {
    await this.jobs.createJob({
      id,
      owner,
      spec: { name: 'j', tasks: [] },
      name: `name-of-${id}`,
      pool: 'p',
      tags: {},
      taskCount: 2,
      at: this.now.toISOString(),
    });
    return id;
  };

  /** Records the job's next status a second later and fans the change out, as job-events does. */
  readonly change = async (id: string, to: JobStatus, extra: Partial<StatusChange> = {}) => {
    this.tick();
    const { job } = await this.jobs.recordStatus(id, {
      to,
      message: `moved to ${to}`,
      at: this.now.toISOString(),
      ...(to === 'FINISHED' ? { condition: 'NORMAL_COMPLETION' as const } : {}),
      ...extra,
    });
    return this.notifier().fanOut({ type: 'job.status.changed', owner: job.owner, jobId: id, status: to });
  };

  /** Moves a job along the path until it reaches `to`; returns every kick on the way. */
  readonly advanceTo = async (id: string, to: JobStatus) => {
    const kicks: DeliveryKick[] = [];
    const current = (await this.jobs.getJob(id))!.status;
    for (const status of PATH.slice(PATH.indexOf(current) + 1, PATH.indexOf(to) + 1)) {
      kicks.push(...(await this.change(id, status)));
    }
    return kicks;
  };

  /** A job's first change (PENDING), fanned out. */
  readonly submit = async (id = 'job-1', owner = 'alice') => {
    await this.createJob(id, owner);
    return this.notifier().fanOut({ type: 'job.status.changed', owner, jobId: id, status: 'PENDING' });
  };

  readonly kickOf = (subscriptionId = 'sub-1', jobId = 'job-1', owner = 'alice'): DeliveryKick => ({
    owner,
    subscriptionId,
    jobId,
  });

  /** A stream's job event deliveries, whole, in sequence order. */
  readonly rows = async (subscriptionId = 'sub-1', jobId = 'job-1') =>
    [...this.deliveries.rows.values()]
      .filter((r) => r.subscriptionId === subscriptionId && r.jobId === jobId && !isTaskBatch(r))
      .sort((a, b) => a.sequence - b.sequence)
      .map((r) => structuredClone(r));
  /** A stream's task batches, whole, in sequence order. */
  readonly taskRows = async (subscriptionId = 'sub-1', jobId = 'job-1') =>
    [...this.deliveries.rows.values()]
      .filter((r) => r.subscriptionId === subscriptionId && r.jobId === jobId && isTaskBatch(r))
      .sort((a, b) => a.sequence - b.sequence)
      .map((r) => structuredClone(r));
  readonly row = async (sequence: number, subscriptionId = 'sub-1', jobId = 'job-1') =>
    (await this.rows(subscriptionId, jobId)).find((r) => r.sequence === sequence);
  readonly sent = () => this.webhooks.requests.map((r) => r.id);
  readonly verified = (request: WebhookRequest, secret: string) =>
    verifyWebhook(
      secret,
      { id: request.id, timestamp: request.timestamp, body: request.body },
      request.signature,
      Math.floor(this.now.getTime() / 1000),
    );

  /** The jobs and subscriptions APIs on the same stores, wired as the composition root wires them. */
  readonly apis = () => {
    const config = loadConfig({
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      BATCH_ACCOUNT_URL: 'http://127.0.0.1:1',
    });
    const jobsApi: JobsApi = new JobsApi({
      store: this.jobs,
      limits: config.limits,
      defaultPool: 'p',
      defaultLogsContainer: 'logs',
      forgetNotifications: (owner, jobId) => subscriptionsApi.forgetJob(owner, jobId),
      now: () => this.now,
    });
    const subscriptionsApi = new SubscriptionsApi({
      store: this.subscriptions,
      deliveries: this.deliveries,
      jobs: jobsApi,
      webhooks: { allowHttp: false, allowLoopback: false },
      email: true,
      now: () => this.now,
    });
    return { jobs: jobsApi, subscriptions: subscriptionsApi };
  };

  /** The CloudEvent a history entry of a job should become. */
  readonly expectedCloudEvent = async (jobId: string, sequence: number): Promise<CloudEvent> => {
    const job = (await this.jobs.getJob(jobId))!;
    const entry = (await this.jobs.history(jobId)).find((e) => e.sequence === sequence)!;
    return toCloudEvent(jobStatusEvent(job, entry));
  };
}

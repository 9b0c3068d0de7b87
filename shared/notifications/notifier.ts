import { z } from 'zod';
import { isFinal } from '../domain/lifecycle.js';
import type { TaskStatus } from '../domain/lifecycle.js';
import {
  CLOUDEVENTS_BATCH_JSON,
  CLOUDEVENTS_JSON,
  jobStatusEvent,
  retryDelayMs,
  taskChangeId,
  taskStatusEvent,
  toCloudEvent,
  toEmail,
  toTaskCloudEvent,
  toTaskEmail,
  type EmailMessage,
} from '../domain/notifications.js';
import { matchesSubscription, wantsTaskEvents } from '../domain/subscriptionFilter.js';
import { signWebhook } from '../domain/webhooks.js';
import { NotFoundError } from '../errors.js';
import {
  isTaskBatch,
  type DeliveryHead,
  type DeliveryRecord,
  type DeliveryStore,
} from '../store/deliveryStore.js';
import type { HistoryEntry, JobRecord, JobStore, TaskLogEntry } from '../store/jobStore.js';
import type { SubscriptionRecord, SubscriptionStore } from '../store/subscriptionStore.js';
import type { EmailSender, SendResult, WebhookSender } from './senders.js';
import { METRICS, type Telemetry } from '../telemetry.js';

/** The `deliveries` message: look at one subscription's stream of one job's events. */
export const deliveryKickSchema = z.strictObject({
  owner: z.string().min(1).max(256),
  subscriptionId: z.string().min(1).max(128),
  jobId: z.string().min(1).max(64),
});

/** See {@link deliveryKickSchema}. */
export type DeliveryKick = z.infer<typeof deliveryKickSchema>;

/** What a drain of one stream came to. */
export type DrainOutcome =
  'caught-up' | 'waiting-to-retry' | 'busy' | 'subscription-disabled' | 'nothing-to-deliver';

/** Tunables of delivery. */
export interface NotifierSettings {
  /** Waits between automatic attempts; see `DEFAULT_RETRY_SCHEDULE_SECONDS`. */
  retryScheduleSeconds: readonly number[];
  /** How long one attempt may take. */
  attemptTimeoutMs: number;
  /** A stream with news is looked at again after this even if its wake-up message is lost. */
  backstopMs: number;
  /** Makes links in emails absolute. */
  publicUrl?: string;
}

/** What wakes streams: a job's status change, or news that its task event log grew. */
export type NotifyNews =
  | { type: 'job.status.changed'; owner: string; jobId: string; status: string }
  | { type: 'task.status.changed'; owner: string; jobId: string; statuses: readonly TaskStatus[] };

const DONE = new Set(['delivered', 'dead-lettered']);
/** Task events go in batches of at most this many: one request per task change would not keep up. */
export const TASK_EVENTS_PER_DELIVERY = 100;
const TASK_LOG_PAGE = 500;

/** What a stream sends next: one job event, or a batch of task events. */
type Head =
  | { kind: 'job'; entry: HistoryEntry; row: DeliveryHead | undefined }
  | { kind: 'tasks'; row: DeliveryHead }
  | { kind: 'tasks'; row: undefined; first: number; last: number; events: TaskLogEntry[] };

/**
 * Delivers job and task events to subscriptions, in order per job. The job's history and its task
 * event log are the truth of what happened and in which order; a subscription's stream of one
 * job's events is walked from the last delivery settled (delivered or dead-lettered), one delivery
 * at a time, so nothing is sent before what precedes it is settled. The two logs merge by the
 * position each history entry notes in the task log: task events logged before a job change go
 * before it. Task events travel in batches. Wake-up messages (at least once, in any order) only
 * say "look at this stream"; a due entry per stream carries retries and backs up a lost wake-up.
 * One sender at a time per delivery, by an etag'd claim that expires if its holder dies.
 */
export class Notifier {
  constructor(
    private readonly o: {
      jobs: JobStore;
      subscriptions: SubscriptionStore;
      deliveries: DeliveryStore;
      webhooks: WebhookSender;
      email?: EmailSender;
      settings: NotifierSettings;
      telemetry?: Telemetry;
      now?: () => Date;
      random?: () => number;
    },
  ) {}

  #now(): Date {
    return this.o.now?.() ?? new Date();
  }

  /**
   * The streams news wakes: one per subscription of the job's owner that wants it. A job change
   * also wakes the job's task event subscribers: task changes it follows go out before it. Each
   * stream is first made due (so the sweep finds it if the wake-up is lost), then returned to be
   * sent; streams woken by task changes are only made due (see below).
   */
  async fanOut(news: NotifyNews): Promise<DeliveryKick[]> {
    const now = this.#now();
    const { owner, jobId } = news;
    const wanted = (await this.o.subscriptions.listEnabled(owner)).filter((subscription) =>
      news.type === 'job.status.changed'
        ? matchesSubscription(subscription, { type: news.type, owner, jobId, status: news.status }, now) ||
          wantsTaskEvents(subscription, jobId, now)
        : news.statuses.some((status) =>
            matchesSubscription(subscription, { type: news.type, owner, jobId, status }, now),
          ),
    );
    const kicks = wanted.map((s) => ({ owner: s.owner, subscriptionId: s.id, jobId }));
    // Task changes come by the thousand: their streams are made due now rather than woken at
    // once, so the sweep drains each every few seconds, in batches, however many came meanwhile.
    const tasks = news.type === 'task.status.changed';
    const dueAt = new Date(now.getTime() + (tasks ? 0 : this.o.settings.backstopMs));
    await Promise.all(kicks.map((kick) => this.o.deliveries.markDue(kick, dueAt)));
    return tasks ? [] : kicks;
  }

  /**
   * Streams whose due time has come (a retry, or a wake-up that seems lost). Each is pushed back by
   * the backstop before it is returned, so the next sweep does not wake it again meanwhile.
   */
  async sweep(limit = 500): Promise<DeliveryKick[]> {
    const now = this.#now();
    const due = await this.o.deliveries.due(now, limit);
    const kicks: DeliveryKick[] = [];
    for (const entry of due) {
      if (await this.o.deliveries.postpone(entry, new Date(now.getTime() + this.o.settings.backstopMs))) {
        kicks.push({ owner: entry.owner, subscriptionId: entry.subscriptionId, jobId: entry.jobId });
      }
    }
    return kicks;
  }

  /** Delivers what a stream has ready, in order, until it is caught up or must wait. */
  async drain(kick: DeliveryKick): Promise<{ outcome: DrainOutcome; delivered: number }> {
    // Independent reads, at once: each is a round trip to storage, and this is the latency path.
    const [dueAtStart, subscription, job, rowsAtStart] = await Promise.all([
      this.o.deliveries.dueEntry(kick.subscriptionId, kick.jobId),
      this.o.subscriptions.get(kick.owner, kick.subscriptionId),
      this.o.jobs.getJob(kick.jobId),
      this.o.deliveries.stream(kick.subscriptionId, kick.jobId),
    ]);
    let due = dueAtStart;
    let delivered = 0;
    if (!subscription || !job || job.owner !== subscription.owner) {
      // The subscription was deleted or the job is gone: nothing will ever be sent for it.
      if (due) await this.o.deliveries.clearDue(due);
      return { outcome: 'nothing-to-deliver', delivered };
    }
    const wantsTasks = wantsTaskEvents(subscription, job.id, this.#now());
    let known: DeliveryHead[] | undefined = rowsAtStart;
    // Each pass settles one delivery; the bound only guards against a store that never settles.
    for (let pass = 0; pass < 10_000; pass++) {
      let history: HistoryEntry[];
      try {
        history = await this.o.jobs.history(job.id);
      } catch (error) {
        if (error instanceof NotFoundError) return { outcome: 'nothing-to-deliver', delivered };
        throw error;
      }
      // The rows as this drain last wrote or read them; after a pass that settled nothing, read.
      const rows: DeliveryHead[] = known ?? (await this.o.deliveries.stream(subscription.id, job.id));
      known = undefined;
      // The task log is read after the history, so every task event a job change noted is seen.
      const head = await this.#head(subscription, job, history, rows, wantsTasks);
      if (!head) {
        const last = history.at(-1);
        if (subscription.perJob && subscription.enabled && last && isFinal(last.status)) {
          await this.o.subscriptions.disable(
            subscription.owner,
            subscription.id,
            `the job ended (${last.status}) and its last event was handled`,
          );
        }
        // News that arrived while this pass ran moved the due entry: look again rather than
        // clear it, or the news would wait for the backstop.
        const current = await this.o.deliveries.dueEntry(subscription.id, job.id);
        if (!current)
          return { outcome: subscription.enabled ? 'caught-up' : 'subscription-disabled', delivered };
        if (due && current.etag === due.etag && (await this.o.deliveries.clearDue(current))) {
          return { outcome: subscription.enabled ? 'caught-up' : 'subscription-disabled', delivered };
        }
        due = current;
        continue;
      }
      const now = this.#now();
      let row: DeliveryRecord | undefined = head.row
        ? await this.o.deliveries.get(subscription.id, head.row.id)
        : await this.o.deliveries.add(this.#newDelivery(subscription, job, head));
      if (!row || DONE.has(row.status)) continue;
      if (row.status === 'retrying' && row.nextAttemptAt && row.nextAttemptAt > now.toISOString()) {
        await this.o.deliveries.markDue(kick, new Date(row.nextAttemptAt), { replace: true });
        return { outcome: 'waiting-to-retry', delivered };
      }
      if (row.claimedUntil && row.claimedUntil > now.toISOString()) return { outcome: 'busy', delivered };
      // A 410 disables the subscription before its delivery is dead-lettered: a drain that sees a
      // dead letter may hold a subscription read from before, so it looks again before sending.
      if (rows.some((r) => r.status === 'dead-lettered')) {
        const current = await this.o.subscriptions.get(subscription.owner, subscription.id);
        if (!current?.enabled) return { outcome: 'subscription-disabled', delivered };
      }
      row = await this.#claim(row, now);
      if (!row) continue;
      const result = await this.#send(subscription, row);
      const settled = await this.#settle(subscription, row, result, false);
      if (!settled) continue;
      if (settled.status === 'delivered') delivered++;
      known = [...rows.filter((r) => r.id !== settled.id), settled];
      if (result.outcome === 'gone') return { outcome: 'subscription-disabled', delivered };
      if (settled.status === 'retrying') {
        await this.o.deliveries.markDue(kick, new Date(settled.nextAttemptAt!), { replace: true });
        return { outcome: 'waiting-to-retry', delivered };
      }
    }
    return { outcome: 'busy', delivered };
  }

  /**
   * One attempt at a delivery now, at the subscriber's request (a dead-lettered one, or one
   * waiting for its next try). A delivered retrying one lets its stream go on.
   */
  async redeliver(
    owner: string,
    subscriptionId: string,
    deliveryId: string,
  ): Promise<{ delivery: DeliveryRecord; kick?: DeliveryKick }> {
    const subscription = await this.o.subscriptions.get(owner, subscriptionId);
    if (!subscription)
      throw new NotFoundError(`subscription ${subscriptionId} does not exist`, 'SUBSCRIPTION_NOT_FOUND');
    const found = await this.o.deliveries.get(subscription.id, deliveryId);
    if (!found) throw new NotFoundError(`delivery ${deliveryId} does not exist`, 'DELIVERY_NOT_FOUND');
    return this.#attemptByHand(subscription, found);
  }

  /** One manual attempt at a delivery as read; see {@link redeliver}. */
  async #attemptByHand(
    subscription: SubscriptionRecord,
    found: DeliveryRecord,
  ): Promise<{ delivery: DeliveryRecord; kick?: DeliveryKick }> {
    if (found.status === 'delivered') return { delivery: found };
    const now = this.#now();
    if (found.claimedUntil && found.claimedUntil > now.toISOString()) return { delivery: found };
    const claimed = await this.#claim(found, now);
    if (!claimed) return { delivery: (await this.o.deliveries.get(subscription.id, found.id)) ?? found };
    const result = await this.#send(subscription, claimed);
    const settled = (await this.#settle(subscription, claimed, result, true)) ?? claimed;
    const resumes = found.status === 'retrying' && settled.status === 'delivered';
    const kick = { owner: subscription.owner, subscriptionId: subscription.id, jobId: settled.jobId };
    return { delivery: settled, ...(resumes ? { kick } : {}) };
  }

  /**
   * Tries a subscription's dead-lettered deliveries again now, one at a time in order (by job, then
   * sequence), at most `limit`, for a subscriber whose endpoint is back after an outage longer
   * than the retry schedule. It stops at the first that fails again: the endpoint is evidently
   * still not taking them, and every further try would only wait out its timeout.
   */
  async redeliverDeadLetters(
    owner: string,
    subscriptionId: string,
    options: { jobId?: string; limit: number },
  ): Promise<{ delivered: DeliveryRecord[]; failed?: DeliveryRecord; more: boolean }> {
    const subscription = await this.o.subscriptions.get(owner, subscriptionId);
    if (!subscription)
      throw new NotFoundError(`subscription ${subscriptionId} does not exist`, 'SUBSCRIPTION_NOT_FOUND');
    const page = await this.o.deliveries.list(subscription.id, {
      status: 'dead-lettered',
      limit: options.limit,
      ...(options.jobId ? { jobId: options.jobId } : {}),
    });
    const delivered: DeliveryRecord[] = [];
    // The subscription and the page's rows, as read, serve every attempt: nothing is read twice.
    for (const dead of page.items) {
      const { delivery } = await this.#attemptByHand(subscription, dead);
      if (delivery.status !== 'delivered') return { delivered, failed: delivery, more: true };
      delivered.push(delivery);
    }
    return { delivered, more: page.continuation !== undefined };
  }

  /**
   * Claims a delivery for one attempt: others leave it alone until the attempt could have ended
   * (its timeout, and a margin for recording it). Undefined if someone changed it first.
   */
  #claim(row: DeliveryRecord, now: Date): Promise<DeliveryRecord | undefined> {
    const until = new Date(now.getTime() + this.o.settings.attemptTimeoutMs + 30_000);
    return this.o.deliveries.replace({ ...row, claimedUntil: until.toISOString() });
  }

  /**
   * What the stream sends next, if anything: the earliest unsettled delivery, or the earliest
   * event wanted after the last settled one. A job change goes after the task events logged
   * before it (its `taskSequence`) and before those logged after.
   */
  async #head(
    subscription: SubscriptionRecord,
    job: JobRecord,
    history: HistoryEntry[],
    rows: DeliveryHead[],
    wantsTasks: boolean,
  ): Promise<Head | undefined> {
    const jobRows = rows.filter((row) => !isTaskBatch(row));
    const entry = this.#jobHead(subscription, job, history, jobRows);
    const jobHead: Head | undefined = entry && {
      kind: 'job',
      entry,
      row: jobRows.find((row) => row.sequence === entry.sequence),
    };
    if (!wantsTasks) return jobHead;
    // Task events logged up to here go before the job's next change.
    const bound = entry ? (entry.taskSequence ?? 0) : Infinity;
    const taskRows = rows.filter(isTaskBatch);
    const open = taskRows.find((row) => !DONE.has(row.status));
    if (open) return open.sequence <= bound || !jobHead ? { kind: 'tasks', row: open } : jobHead;
    let after = 0;
    for (const row of taskRows) after = Math.max(after, row.lastSequence ?? row.sequence);
    if (after >= bound) return jobHead;
    const batch = await this.#taskBatch(subscription, job, after, bound);
    return batch ?? jobHead;
  }

  /** The first job change of the stream not yet settled that the subscription wants, if any. */
  #jobHead(
    subscription: SubscriptionRecord,
    job: JobRecord,
    history: HistoryEntry[],
    rows: DeliveryHead[],
  ): HistoryEntry | undefined {
    let after = 0;
    for (const row of rows) if (DONE.has(row.status)) after = Math.max(after, row.sequence);
    // A standing subscription hears of what happens after it was made, a per-job one of it all;
    // either, turned on again, of what happens from then on.
    const since = this.#since(subscription);
    if (since !== undefined) {
      for (const entry of history) if (entry.at < since) after = Math.max(after, entry.sequence);
    }
    const now = this.#now();
    return history.find(
      (entry) =>
        entry.sequence > after &&
        (rows.some((r) => r.sequence === entry.sequence && !DONE.has(r.status)) ||
          matchesSubscription(
            subscription,
            { type: 'job.status.changed', owner: job.owner, jobId: job.id, status: entry.status },
            now,
          )),
    );
  }

  #since(subscription: SubscriptionRecord): string | undefined {
    return subscription.enabledAt ?? (subscription.perJob ? undefined : subscription.createdAt);
  }

  /**
   * The next batch of task events the subscription wants, from the task log after `after` up to
   * `bound`: at most {@link TASK_EVENTS_PER_DELIVERY} events. It covers the entries it skips too
   * (its `last`), so the next batch starts after them.
   */
  async #taskBatch(
    subscription: SubscriptionRecord,
    job: JobRecord,
    after: number,
    bound: number,
  ): Promise<Head | undefined> {
    const since = this.#since(subscription);
    const now = this.#now();
    const events: TaskLogEntry[] = [];
    let last = after;
    for (;;) {
      const page = await this.o.jobs.taskLog(job.id, { after: last, limit: TASK_LOG_PAGE });
      for (const entry of page) {
        if (entry.sequence > bound) break;
        const wanted =
          (since === undefined || entry.at >= since) &&
          matchesSubscription(
            subscription,
            { type: 'task.status.changed', owner: job.owner, jobId: job.id, status: entry.status },
            now,
          );
        if (wanted) events.push(entry);
        last = entry.sequence;
        if (events.length === TASK_EVENTS_PER_DELIVERY) break;
      }
      const stopped =
        page.length < TASK_LOG_PAGE || last >= bound || events.length === TASK_EVENTS_PER_DELIVERY;
      if (stopped) break;
    }
    return events.length > 0 ? { kind: 'tasks', row: undefined, first: after + 1, last, events } : undefined;
  }

  #newDelivery(
    subscription: SubscriptionRecord,
    job: JobRecord,
    head: Extract<Head, { row: undefined }> | Extract<Head, { kind: 'job' }>,
  ): Omit<DeliveryRecord, 'etag'> {
    const at = this.#now().toISOString();
    const webhook = subscription.target.kind === 'webhook';
    if (head.kind === 'tasks') {
      const events = head.events.map((entry) => taskStatusEvent(job, entry));
      return {
        subscriptionId: subscription.id,
        id: taskChangeId(job.id, head.first),
        jobId: job.id,
        sequence: head.first,
        lastSequence: head.last,
        events: events.length,
        eventType: 'task.status.changed',
        body: webhook
          ? JSON.stringify(events.map(toTaskCloudEvent))
          : JSON.stringify(toTaskEmail(events, this.o.settings.publicUrl)),
        status: 'pending',
        attempts: [],
        createdAt: at,
        updatedAt: at,
      };
    }
    const event = jobStatusEvent(job, head.entry);
    return {
      subscriptionId: subscription.id,
      id: event.id,
      jobId: job.id,
      sequence: head.entry.sequence,
      eventType: event.type,
      body: webhook
        ? JSON.stringify(toCloudEvent(event))
        : JSON.stringify(toEmail(event, this.o.settings.publicUrl)),
      status: 'pending',
      attempts: [],
      createdAt: at,
      updatedAt: at,
    };
  }

  async #send(subscription: SubscriptionRecord, row: DeliveryRecord): Promise<SendResult> {
    if (subscription.target.kind === 'email') {
      if (!this.o.email) {
        return { outcome: 'failed', durationMs: 0, error: 'email is not configured in this deployment' };
      }
      const email = JSON.parse(row.body) as EmailMessage;
      return this.o.email.send({
        to: subscription.target.address,
        subject: email.subject,
        text: email.text,
        // `:` may not appear left of the `@` in a Message-ID.
        messageId: `<${row.id.replace(':', '.')}.${subscription.id}@cloudjobs>`,
      });
    }
    const now = this.#now();
    // Just after a rotation the old secret signs too, so receivers can switch over.
    const signing = (secret: string, previous: { secret: string; until: string } | undefined) => [
      secret,
      ...(previous && previous.until > now.toISOString() ? [previous.secret] : []),
    ];
    const secrets = subscription.secret
      ? signing(subscription.secret, subscription.previousSecret)
      : await this.o.subscriptions
          .ownerSecret(subscription.owner)
          .then((owner) => (owner ? signing(owner.secret, owner.previous) : []));
    if (secrets.length === 0) {
      return {
        outcome: 'failed',
        durationMs: 0,
        error: 'no signing secret: create one with POST /api/subscriptions/signing-secret',
      };
    }
    const timestamp = Math.floor(now.getTime() / 1000);
    return this.o.webhooks.post({
      url: subscription.target.url,
      id: row.id,
      timestamp,
      signature: secrets
        .map((secret) => signWebhook(secret, { id: row.id, timestamp, body: row.body }))
        .join(' '),
      body: row.body,
      contentType: isTaskBatch(row) ? CLOUDEVENTS_BATCH_JSON : CLOUDEVENTS_JSON,
    });
  }

  /** Records an attempt and what follows from it; undefined if the row changed under the claim. */
  async #settle(
    subscription: SubscriptionRecord,
    row: DeliveryRecord,
    result: SendResult,
    manual: boolean,
  ): Promise<DeliveryRecord | undefined> {
    const now = this.#now();
    const attempts = [
      ...row.attempts,
      {
        at: now.toISOString(),
        durationMs: result.durationMs,
        outcome: result.outcome,
        ...(result.statusCode !== undefined ? { statusCode: result.statusCode } : {}),
        ...(result.error ? { error: result.error } : {}),
        ...(manual ? { manual: true } : {}),
      },
    ];
    const { claimedUntil: _claim, nextAttemptAt: _next, ...rest } = row;
    let next: DeliveryRecord;
    if (result.outcome === 'delivered') {
      next = { ...rest, attempts, status: 'delivered', updatedAt: now.toISOString() };
    } else if (result.outcome === 'gone') {
      await this.o.subscriptions.disable(
        subscription.owner,
        subscription.id,
        `the endpoint answered 410 Gone at ${now.toISOString()}`,
      );
      next = { ...rest, attempts, status: 'dead-lettered', updatedAt: now.toISOString() };
    } else if (manual) {
      next = {
        ...rest,
        attempts,
        updatedAt: now.toISOString(),
        ...(row.nextAttemptAt ? { nextAttemptAt: row.nextAttemptAt } : {}),
      };
    } else {
      const made = attempts.filter((a) => !a.manual).length;
      const delay = retryDelayMs(
        made,
        this.o.settings.retryScheduleSeconds,
        this.o.random?.() ?? Math.random(),
      );
      next =
        delay === undefined
          ? { ...rest, attempts, status: 'dead-lettered', updatedAt: now.toISOString() }
          : {
              ...rest,
              attempts,
              status: 'retrying',
              nextAttemptAt: new Date(now.getTime() + delay).toISOString(),
              updatedAt: now.toISOString(),
            };
    }
    const replaced = await this.o.deliveries.replace(next);
    if (replaced && result.outcome !== 'delivered') this.#report(subscription, replaced, result);
    return replaced;
  }

  /** A failed attempt is a metric; giving up on a delivery is also a line an operator can act on. */
  #report(subscription: SubscriptionRecord, delivery: DeliveryRecord, result: SendResult): void {
    const telemetry = this.o.telemetry;
    if (!telemetry) return;
    const channel = subscription.target.kind;
    telemetry.metric(METRICS.deliveriesFailed, 1, { channel });
    if (delivery.status !== 'dead-lettered') return;
    telemetry.metric(METRICS.deliveriesDeadLettered, 1, { channel });
    telemetry.log(
      'warning',
      `gave up delivering ${delivery.eventType} #${delivery.sequence} to subscription ${subscription.id} after ${delivery.attempts.length} attempt(s): ${result.error ?? `status ${result.statusCode ?? 'unknown'}`}`,
      {
        jobId: delivery.jobId,
        owner: subscription.owner,
        subscriptionId: subscription.id,
        deliveryId: delivery.id,
        channel,
        statusCode: result.statusCode,
      },
    );
  }
}

import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { forEachLimited } from '../concurrency.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import type { NotificationSpec } from '../domain/jobSpec.js';
import type { DeliveryRecord, DeliveryStore } from '../store/deliveryStore.js';
import type { Page } from '../store/jobStore.js';
import { webhookUrlProblem, type WebhookPolicy } from '../domain/webhooks.js';
import { checkStatusFilter, eventPatternSchema, notifiableStatusSchema } from '../domain/jobSpec.js';
import type { Caller } from '../identity.js';
import type { SubscriptionRecord, SubscriptionStore } from '../store/subscriptionStore.js';
import type { JobsApi } from '../jobs/jobsApi.js';
import { parseInput } from '../domain/issues.js';

const filterFields = {
  events: z.array(eventPatternSchema).min(1).max(20).default(['job.*']),
  jobId: z.string().min(1).max(64).optional().describe('only this job’s events'),
  statuses: z
    .array(notifiableStatusSchema)
    .min(1)
    .optional()
    .describe('only changes into these statuses (a job status, a task status, or both, as FAILED)'),
  ttlMinutes: z
    .number()
    .int()
    .min(1)
    .max(366 * 24 * 60)
    .optional(),
  enabled: z.boolean().default(true),
};

/** Body of `POST /subscriptions`: a webhook URL or an email address, and what to send it. */
export const subscriptionCreateSchema = z
  .union([
    z.strictObject({
      url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048),
      ...filterFields,
    }),
    z.strictObject({ email: z.email().max(254), ...filterFields }),
  ])
  .superRefine(checkStatusFilter);

/** Body of `PATCH /subscriptions/{id}`. */
export const subscriptionUpdateSchema = z.strictObject({ enabled: z.boolean() });

const ROTATION_OVERLAP_MS = 24 * 3600_000;

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** `GET /subscriptions/{id}/deliveries` query. */
export const deliveriesQuerySchema = z.strictObject({
  jobId: z.string().min(1).max(64).optional(),
  status: z.enum(['pending', 'retrying', 'delivered', 'dead-lettered']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  continuation: z.string().max(4096).optional(),
});

/** `POST /subscriptions/{id}/deliveries/retry` query: which dead letters to try again. */
export const redeliverDeadLettersQuerySchema = z.strictObject({
  jobId: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
});

/** A delivery as the API shows it: the event sent and every attempt. */
export function deliveryView(delivery: DeliveryRecord): Record<string, unknown> {
  const { etag: _etag, body, claimedUntil: _claim, ...rest } = delivery;
  return {
    ...rest,
    event: JSON.parse(body) as unknown,
    links: {
      retry: `/api/subscriptions/${delivery.subscriptionId}/deliveries/${encodeURIComponent(delivery.id)}/retry`,
    },
  };
}

/** A subscription as the API shows it: never with its secret, which is shown once, at creation. */
export function subscriptionView(subscription: SubscriptionRecord): Record<string, unknown> {
  const { secret: _secret, previousSecret, owner: _owner, ...rest } = subscription;
  return {
    ...rest,
    // When the replaced secret stops signing, not the secret itself.
    ...(previousSecret ? { previousSecretSignsUntil: previousSecret.until } : {}),
    links: { deliveries: `/api/subscriptions/${subscription.id}/deliveries` },
  };
}

/**
 * Subscriptions CRUD. A subscription belongs to its owner: another user's answers 404 exactly as a
 * missing one, and a job filter must name one of the owner's own jobs.
 */
export class SubscriptionsApi {
  constructor(
    private readonly o: {
      store: SubscriptionStore;
      deliveries: DeliveryStore;
      jobs: JobsApi;
      webhooks?: WebhookPolicy;
      /** Whether this deployment can send email (else email subscriptions are refused). */
      email?: boolean;
      /** Told after an owner's subscriptions were made or turned on (caches of them are stale). */
      changed?: (owner: string) => void;
      now?: () => Date;
    },
  ) {}

  #now(): Date {
    return this.o.now?.() ?? new Date();
  }

  /** Until when a secret replaced now still signs beside the new one. */
  #overlapEnds(): string {
    return new Date(this.#now().getTime() + ROTATION_OVERLAP_MS).toISOString();
  }

  /** Creates a subscription; the answer carries its signing secret, the only time it is shown. */
  async create(caller: Caller, body: unknown): Promise<{ subscription: SubscriptionRecord; secret: string }> {
    const input = parseInput(subscriptionCreateSchema, body);
    const problem =
      'url' in input
        ? webhookUrlProblem(input.url, this.o.webhooks ?? { allowHttp: false, allowLoopback: false })
        : undefined;
    if (problem) {
      throw new ValidationError(
        `the webhook URL is refused: ${problem}`,
        [{ path: 'url', message: problem }],
        'WEBHOOK_URL_REFUSED',
      );
    }
    // Someone else's job id is refused exactly as an unknown one.
    if ('email' in input && this.o.email === false) {
      throw new ValidationError(
        'email is not configured in this deployment',
        [
          {
            path: 'email',
            message:
              'this deployment has no mail server configured (CLOUDJOBS_SMTP_URL, or Azure Communication Services: CLOUDJOBS_ACS_EMAIL_CONNECTION_STRING or CLOUDJOBS_ACS_EMAIL_ENDPOINT)',
          },
        ],
        'EMAIL_NOT_CONFIGURED',
      );
    }
    if (input.jobId) await this.o.jobs.job({ ...caller, admin: false }, input.jobId);
    const now = this.#now();
    const secret = newSecret();
    const subscription: SubscriptionRecord = {
      id: randomUUID(),
      owner: caller.owner,
      target: 'url' in input ? { kind: 'webhook', url: input.url } : { kind: 'email', address: input.email },
      events: input.events,
      enabled: input.enabled,
      perJob: false,
      createdAt: now.toISOString(),
      secret,
    };
    if (input.jobId) subscription.jobId = input.jobId;
    if (input.statuses) subscription.statuses = input.statuses;
    if (input.ttlMinutes)
      subscription.expiresAt = new Date(now.getTime() + input.ttlMinutes * 60_000).toISOString();
    await this.o.store.create(subscription);
    this.o.changed?.(caller.owner);
    return { subscription, secret };
  }

  async get(caller: Caller, id: string): Promise<SubscriptionRecord> {
    const subscription = await this.o.store.get(caller.owner, id);
    if (!subscription) throw new NotFoundError(`subscription ${id} does not exist`, 'SUBSCRIPTION_NOT_FOUND');
    return subscription;
  }

  list(caller: Caller): Promise<SubscriptionRecord[]> {
    return this.o.store.list(caller.owner);
  }

  /** A subscription's deliveries with every attempt, by job then in sequence order. */
  async deliveries(caller: Caller, id: string, query: unknown): Promise<Page<DeliveryRecord>> {
    const subscription = await this.get(caller, id);
    const options = parseInput(deliveriesQuerySchema, query);
    return this.o.deliveries.list(subscription.id, {
      limit: options.limit,
      ...(options.jobId ? { jobId: options.jobId } : {}),
      ...(options.status ? { status: options.status } : {}),
      ...(options.continuation ? { continuation: options.continuation } : {}),
    });
  }

  /**
   * Gives a webhook subscription a new signing secret and shows it, the only time it is shown. For
   * a day the replaced one signs too (a second signature in `webhook-signature`), so a receiver can
   * switch over without losing deliveries. A spec's webhooks are signed with the account's secret
   * (see {@link rotateSigningSecret}), and email is not signed: both are refused.
   */
  async rotateSecret(caller: Caller, id: string): Promise<{ secret: string; previousSignsUntil: string }> {
    const subscription = await this.get(caller, id);
    if (subscription.target.kind !== 'webhook') {
      throw new ConflictError(
        `subscription ${id} sends email, which is not signed`,
        'SUBSCRIPTION_NOT_SIGNED',
      );
    }
    if (subscription.perJob) {
      throw new ConflictError(
        `subscription ${id} comes from a job spec and is signed with your account's signing secret: rotate that with POST /api/subscriptions/signing-secret`,
        'SUBSCRIPTION_SIGNED_BY_ACCOUNT',
      );
    }
    const secret = newSecret();
    const previousSignsUntil = this.#overlapEnds();
    if (!(await this.o.store.rotateSecret(subscription.owner, subscription.id, secret, previousSignsUntil))) {
      throw new NotFoundError(`subscription ${id} does not exist`, 'SUBSCRIPTION_NOT_FOUND');
    }
    return { secret, previousSignsUntil };
  }

  /**
   * Makes a new secret for signing the caller's per-job webhooks (those declared in job specs) and
   * shows it, the only time it is shown. For a day the previous one signs too (a second
   * signature in `webhook-signature`), so a receiver can switch over without losing deliveries.
   */
  async rotateSigningSecret(caller: Caller): Promise<string> {
    return this.o.store.setOwnerSecret(caller.owner, newSecret(), {
      previousUntil: this.#overlapEnds(),
    });
  }

  /**
   * The subscriptions a job's spec declares, made when the job is stored (again, harmlessly, on a
   * replay). Ids derive from the job's, so a replay cannot double them.
   */
  async registerForJob(
    owner: string,
    jobId: string,
    notifications: readonly NotificationSpec[],
  ): Promise<void> {
    if (notifications.length === 0) return;
    const at = this.#now().toISOString();
    if (notifications.some((n) => 'url' in n)) {
      await this.o.store.setOwnerSecret(owner, newSecret(), { onlyIfAbsent: true });
    }
    await Promise.all(
      notifications.map((notification, i) =>
        this.o.store.createIfAbsent({
          id: `${jobId}-n${i + 1}`,
          owner,
          target:
            'url' in notification
              ? { kind: 'webhook', url: notification.url }
              : { kind: 'email', address: notification.email },
          events: notification.events,
          ...(notification.statuses ? { statuses: notification.statuses } : {}),
          jobId,
          enabled: true,
          perJob: true,
          createdAt: at,
          secret: '',
        }),
      ),
    );
    this.o.changed?.(owner);
  }

  /**
   * Turns a subscription on or off (`PATCH`). Turned on again, it is told of changes made from
   * then on; what happened while it was off is in the jobs' histories, not sent.
   */
  async update(caller: Caller, id: string, body: unknown): Promise<SubscriptionRecord> {
    const input = parseInput(subscriptionUpdateSchema, body);
    const subscription = await this.get(caller, id);
    const changed = input.enabled
      ? await this.o.store.enable(subscription.owner, subscription.id, this.#now().toISOString())
      : await this.o.store.disable(subscription.owner, subscription.id, 'turned off by its owner');
    if (!changed) throw new NotFoundError(`subscription ${id} does not exist`, 'SUBSCRIPTION_NOT_FOUND');
    if (input.enabled) this.o.changed?.(subscription.owner);
    return this.get(caller, id);
  }

  /**
   * Forgets what notifications kept of a deleted job: its own subscriptions (from its spec) and
   * every other subscription's deliveries of it. Only subscriptions that could have heard of the
   * job are looked at: an owner's ended per-job subscriptions of other jobs never did.
   */
  async forgetJob(owner: string, jobId: string): Promise<void> {
    const heard = (await this.o.store.list(owner)).filter((s) =>
      s.perJob ? s.jobId === jobId : s.jobId === undefined || s.jobId === jobId,
    );
    await forEachLimited(heard, 8, async (subscription) => {
      if (subscription.perJob) {
        await this.o.store.delete(owner, subscription.id);
        await this.o.deliveries.forget(subscription.id);
      } else {
        await this.o.deliveries.forget(subscription.id, { jobId });
      }
    });
    this.o.changed?.(owner);
  }

  /** Deletes a subscription and, with it, its deliveries. */
  async delete(caller: Caller, id: string): Promise<void> {
    if (!(await this.o.store.delete(caller.owner, id))) {
      throw new NotFoundError(`subscription ${id} does not exist`, 'SUBSCRIPTION_NOT_FOUND');
    }
    // After the subscription: a delivery in flight now finds no subscription and stops.
    await this.o.deliveries.forget(id);
  }
}

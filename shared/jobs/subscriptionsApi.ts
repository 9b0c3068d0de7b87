import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError, NotFoundError, ValidationError } from '../errors.js';
import { webhookUrlProblem, type WebhookPolicy } from '../domain/webhooks.js';
import { eventPatternSchema } from '../domain/jobSpec.js';
import { JOB_STATUSES } from '../domain/lifecycle.js';
import type { Caller } from '../identity.js';
import type { SubscriptionRecord, SubscriptionStore } from '../store/subscriptionStore.js';
import type { JobsApi } from './jobsApi.js';
import { parseInput } from './jobsApi.js';

const filterFields = {
  events: z.array(eventPatternSchema).min(1).max(20).default(['job.*']),
  jobId: z.string().min(1).max(64).optional().describe('only this job’s events'),
  statuses: z.array(z.enum(JOB_STATUSES)).min(1).optional().describe('only changes into these statuses'),
  ttlMinutes: z
    .number()
    .int()
    .min(1)
    .max(366 * 24 * 60)
    .optional(),
  enabled: z.boolean().default(true),
};

/** Body of `POST /subscriptions`: a webhook URL or an email address, and what to send it. */
export const subscriptionCreateSchema = z.union([
  z.strictObject({
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048),
    ...filterFields,
  }),
  z.strictObject({ email: z.email().max(254), ...filterFields }),
]);

/** A subscription as the API shows it: never with its secret, which is shown once, at creation. */
export function subscriptionView(subscription: SubscriptionRecord): Record<string, unknown> {
  const { secret: _secret, owner: _owner, ...rest } = subscription;
  return { ...rest, links: { deliveries: `/api/subscriptions/${subscription.id}/deliveries` } };
}

/**
 * Subscriptions CRUD. A subscription belongs to its owner: another user's answers 404 exactly as a
 * missing one, and a job filter must name one of the owner's own jobs.
 */
export class SubscriptionsApi {
  constructor(
    private readonly store: SubscriptionStore,
    private readonly jobs: JobsApi,
    private readonly webhooks: WebhookPolicy = { allowHttp: false, allowLoopback: false },
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Creates a subscription; the answer carries its signing secret, the only time it is shown. */
  async create(caller: Caller, body: unknown): Promise<{ subscription: SubscriptionRecord; secret: string }> {
    const input = parseInput(subscriptionCreateSchema, body);
    const problem = 'url' in input ? webhookUrlProblem(input.url, this.webhooks) : undefined;
    if (problem) {
      throw new ValidationError(
        `the webhook URL is refused: ${problem}`,
        [{ path: 'url', message: problem }],
        'WEBHOOK_URL_REFUSED',
      );
    }
    // Someone else's job id is refused exactly as an unknown one.
    if (input.jobId) await this.jobs.job({ ...caller, admin: false }, input.jobId);
    const now = this.now();
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
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
    await this.store.create(subscription);
    return { subscription, secret };
  }

  async get(caller: Caller, id: string): Promise<SubscriptionRecord> {
    const subscription = await this.store.get(caller.owner, id);
    if (!subscription) throw new NotFoundError(`subscription ${id} does not exist`, 'SUBSCRIPTION_NOT_FOUND');
    return subscription;
  }

  list(caller: Caller): Promise<SubscriptionRecord[]> {
    return this.store.list(caller.owner);
  }

  /** Delivery attempts are recorded by notification delivery, which this version does not run yet. */
  async deliveries(caller: Caller, id: string): Promise<never> {
    await this.get(caller, id);
    throw new AppError(
      'NOT_AVAILABLE_YET',
      'delivery attempts are recorded by notification delivery, which this version does not run yet',
      503,
      'none',
    );
  }

  async delete(caller: Caller, id: string): Promise<void> {
    if (!(await this.store.delete(caller.owner, id))) {
      throw new NotFoundError(`subscription ${id} does not exist`, 'SUBSCRIPTION_NOT_FOUND');
    }
  }
}

import type { JobStatus, TaskStatus } from './lifecycle.js';

/** The event types subscribers can receive. Task events are opt-in: they are many. */
export type NotifiableEventType = 'job.status.changed' | 'task.status.changed';

/** A status a subscription may filter on: a job's, a task's, or (as `FAILED`) both. */
export type NotifiableStatus = JobStatus | TaskStatus;

/** What a subscription's filter is judged against. */
export interface NotifiableEvent {
  type: NotifiableEventType;
  owner: string;
  jobId: string;
  /** The status the job (or task) moved into. */
  status: string;
}

/** A subscription, as far as choosing its events goes. */
export interface SubscriptionFilter {
  owner: string;
  events: readonly string[];
  jobId?: string;
  statuses?: readonly NotifiableStatus[];
  enabled: boolean;
  expiresAt?: string;
}

/**
 * Whether an event type matches a pattern: segments compare one by one, `*` stands for one
 * segment, and a trailing `*` for the rest (`job.*` matches `job.status.changed`). Task events
 * are opt-in: only a pattern that names `task` matches them, so `*` means every job event.
 */
export function eventTypeMatches(pattern: string, type: NotifiableEventType): boolean {
  const wanted = pattern.split('.');
  const actual = type.split('.');
  if (actual[0] === 'task' && wanted[0] !== 'task') return false;
  for (let i = 0; i < wanted.length; i++) {
    const segment = wanted[i]!;
    if (segment === '*' && i === wanted.length - 1) return actual.length > i || i === 0;
    if (i >= actual.length) return false;
    if (segment !== '*' && segment !== actual[i]) return false;
  }
  return wanted.length === actual.length;
}

/**
 * Whether a subscription receives an event: its owner's jobs only, enabled and not expired, and
 * through every filter it has (event type, job, statuses).
 */
export function matchesSubscription(
  subscription: SubscriptionFilter,
  event: NotifiableEvent,
  now: Date,
): boolean {
  if (subscription.owner !== event.owner || !subscription.enabled) return false;
  if (subscription.expiresAt !== undefined && Date.parse(subscription.expiresAt) <= now.getTime())
    return false;
  if (subscription.jobId !== undefined && subscription.jobId !== event.jobId) return false;
  if (subscription.statuses && !(subscription.statuses as readonly string[]).includes(event.status))
    return false;
  return subscription.events.some((pattern) => eventTypeMatches(pattern, event.type));
}

/**
 * Whether a subscription may want some of a job's task events: it is on, not expired, takes this
 * job, and opted in to task events. Statuses are left out: this decides whether task changes are
 * worth recording for it at all.
 */
export function wantsTaskEvents(subscription: SubscriptionFilter, jobId: string, now: Date): boolean {
  if (!subscription.enabled) return false;
  if (subscription.expiresAt !== undefined && Date.parse(subscription.expiresAt) <= now.getTime())
    return false;
  if (subscription.jobId !== undefined && subscription.jobId !== jobId) return false;
  return subscription.events.some((pattern) => eventTypeMatches(pattern, 'task.status.changed'));
}

import type { JobStatus } from '../domain/lifecycle.js';

/** Where a subscription sends events. */
export type SubscriptionTarget = { kind: 'webhook'; url: string } | { kind: 'email'; address: string };

/** A standing or per-job subscription to job events. */
export interface SubscriptionRecord {
  id: string;
  owner: string;
  target: SubscriptionTarget;
  /** Event type globs, e.g. `job.*`. */
  events: string[];
  /** Only this job's events, when set. */
  jobId?: string;
  /** Only events into these statuses, when set. */
  statuses?: JobStatus[];
  enabled: boolean;
  /** Declared in a job spec: it ends after the job's final event is delivered. */
  perJob: boolean;
  expiresAt?: string;
  createdAt: string;
  /** The signing secret; never shown again after creation. */
  secret: string;
}

/** Subscriptions, kept per owner. */
export interface SubscriptionStore {
  create(subscription: SubscriptionRecord): Promise<void>;
  /** An owner's subscription; undefined if the owner has none with this id. */
  get(owner: string, id: string): Promise<SubscriptionRecord | undefined>;
  /** Every subscription of an owner. */
  list(owner: string): Promise<SubscriptionRecord[]>;
  /** Removes an owner's subscription; false if there was none. */
  delete(owner: string, id: string): Promise<boolean>;
}

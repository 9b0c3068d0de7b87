import type { NotifiableStatus } from '../domain/subscriptionFilter.js';

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
  statuses?: NotifiableStatus[];
  enabled: boolean;
  /** Declared in a job spec: it ends after the job's final event is delivered. */
  perJob: boolean;
  expiresAt?: string;
  createdAt: string;
  /**
   * The signing secret; never shown again after creation. Empty on per-job subscriptions, which
   * are signed with their owner's signing secret (the spec that declares them has no answer to
   * carry a secret in when it arrives through the inbox).
   */
  secret: string;
  /** The secret a rotation replaced: it signs alongside the new one until `until`. */
  previousSecret?: { secret: string; until: string };
  /** Why it stopped receiving events: the endpoint answered 410, or its job ended. */
  disabledReason?: string;
  /** When it was last turned on again; it is told of changes from then on. */
  enabledAt?: string;
}

/** An owner's signing secret, and during a rotation the one it replaced. */
export interface OwnerSecret {
  secret: string;
  previous?: { secret: string; until: string };
}

/** Subscriptions, kept per owner. */
export interface SubscriptionStore {
  create(subscription: SubscriptionRecord): Promise<void>;
  /** An owner's subscription; undefined if the owner has none with this id. */
  get(owner: string, id: string): Promise<SubscriptionRecord | undefined>;
  /** Every subscription of an owner. */
  list(owner: string): Promise<SubscriptionRecord[]>;
  /** An owner's enabled subscriptions: what an event may go to (ended per-job ones are not read). */
  listEnabled(owner: string): Promise<SubscriptionRecord[]>;
  /** Removes an owner's subscription; false if there was none. */
  delete(owner: string, id: string): Promise<boolean>;
  /** Subscriptions of every owner whose `expiresAt` is before `now`: what retention removes. */
  listExpired(now: string, limit: number): Promise<Array<{ owner: string; id: string }>>;
  /** Adds a subscription unless one with its id exists (per-job ones are created again on a replay). */
  createIfAbsent(subscription: SubscriptionRecord): Promise<void>;
  /** Stops a subscription receiving events, saying why; false if it no longer exists. */
  disable(owner: string, id: string, reason: string): Promise<boolean>;
  /** Lets a disabled subscription receive events again, from `at` on; false if it no longer exists. */
  enable(owner: string, id: string, at: string): Promise<boolean>;
  /**
   * Gives a subscription a new signing secret, keeping the one it replaces signing alongside until
   * `previousUntil`; false if the subscription no longer exists.
   */
  rotateSecret(owner: string, id: string, secret: string, previousUntil: string): Promise<boolean>;
  /** The secret that signs an owner's per-job webhooks, if one was made, and the one it replaced. */
  ownerSecret(owner: string): Promise<OwnerSecret | undefined>;
  /**
   * Sets the secret that signs an owner's per-job webhooks; `onlyIfAbsent` keeps an existing one,
   * `previousUntil` keeps the replaced one signing alongside until then. Returns the secret in force.
   */
  setOwnerSecret(
    owner: string,
    secret: string,
    options?: { onlyIfAbsent?: boolean; previousUntil?: string },
  ): Promise<string>;
}

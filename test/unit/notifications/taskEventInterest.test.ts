/* eslint-disable @typescript-eslint/require-await -- fakes keep the async signatures of what they stand in for */
import { describe, expect, it } from 'vitest';
import { TaskEventInterest } from '../../../shared/notifications/taskEventInterest.js';
import type { SubscriptionRecord } from '../../../shared/store/subscriptionStore.js';

const subscription = (over: Partial<SubscriptionRecord>): SubscriptionRecord => ({
  id: 's',
  owner: 'alice',
  target: { kind: 'webhook', url: 'https://hooks.example.org/x' },
  events: ['task.*'],
  enabled: true,
  perJob: false,
  createdAt: '2026-11-23T09:00:00.000Z',
  secret: 'x',
  ...over,
});

describe('who wants task events', () => {
  const setup = (initial: SubscriptionRecord[]) => {
    let now = new Date('2026-11-23T10:00:00.000Z');
    const state = { subscriptions: initial, reads: 0, fail: false };
    const interest = new TaskEventInterest({
      subscriptions: {
        listEnabled: async (owner) => {
          state.reads++;
          if (state.fail) throw new Error('storage is down');
          return state.subscriptions.filter((s) => s.owner === owner);
        },
      },
      ttlMs: 5_000,
      now: () => now,
    });
    return { interest, state, advance: (ms: number) => (now = new Date(now.getTime() + ms)) };
  };

  it('should want a job’s task events when a subscription of its owner opted in for it', async () => {
    const { interest } = setup([
      subscription({ id: 'j2', jobId: 'job-2' }),
      subscription({ id: 'jobs', events: ['job.*'] }),
      subscription({ id: 'bob', owner: 'bob' }),
    ]);
    expect(await interest.wanted('alice', 'job-1')).toBe(false);
    expect(await interest.wanted('alice', 'job-2')).toBe(true);
    expect(await interest.wanted('bob', 'job-1')).toBe(true);
  });

  it('should read an owner’s subscriptions once per few seconds, and at once after being told', async () => {
    const { interest, state, advance } = setup([]);
    expect(await interest.wanted('alice', 'job-1')).toBe(false);
    state.subscriptions = [subscription({})];
    expect(await interest.wanted('alice', 'job-1')).toBe(false);
    expect(state.reads).toBe(1);
    advance(5_000);
    expect(await interest.wanted('alice', 'job-1')).toBe(true);
    expect(state.reads).toBe(2);

    state.subscriptions = [];
    interest.forget('alice');
    expect(await interest.wanted('alice', 'job-1')).toBe(false);
    expect(state.reads).toBe(3);
  });

  it('should not remember a failed read', async () => {
    const { interest, state } = setup([subscription({})]);
    state.fail = true;
    await expect(interest.wanted('alice', 'job-1')).rejects.toThrow('storage is down');
    state.fail = false;
    expect(await interest.wanted('alice', 'job-1')).toBe(true);
  });
});

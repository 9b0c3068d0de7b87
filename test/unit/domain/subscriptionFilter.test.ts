import { describe, expect, it } from 'vitest';
import {
  eventTypeMatches,
  matchesSubscription,
  wantsTaskEvents,
  type NotifiableEvent,
  type SubscriptionFilter,
} from '../../../shared/domain/subscriptionFilter.js';

describe('event type patterns', () => {
  it.each([
    ['job.*', 'job.status.changed', true],
    ['job.status.changed', 'job.status.changed', true],
    ['job.status.*', 'job.status.changed', true],
    ['job.*.changed', 'job.status.changed', true],
    ['*', 'job.status.changed', true],
    ['job.status', 'job.status.changed', false],
    ['job.status.changed.more', 'job.status.changed', false],
    ['job.other.changed', 'job.status.changed', false],
    ['*', 'task.status.changed', false],
    ['job.*', 'task.status.changed', false],
    ['task.*', 'task.status.changed', true],
    ['task.status.changed', 'task.status.changed', true],
    ['task.*', 'job.status.changed', false],
  ] as const)('%s against %s: %s', (pattern, type, expected) => {
    expect(eventTypeMatches(pattern, type)).toBe(expected);
  });
});

describe('which subscriptions receive an event', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  const event: NotifiableEvent = {
    type: 'job.status.changed',
    owner: 'alice',
    jobId: 'j1',
    status: 'FAILED',
  };
  const base: SubscriptionFilter = { owner: 'alice', events: ['job.*'], enabled: true };

  it.each<[string, Partial<SubscriptionFilter>, boolean]>([
    ['a plain subscription of the owner', {}, true],
    ['another user’s subscription', { owner: 'bob' }, false],
    ['a disabled one', { enabled: false }, false],
    ['an expired one', { expiresAt: '2026-11-23T11:59:59Z' }, false],
    ['one that expires later', { expiresAt: '2026-11-23T12:00:01Z' }, true],
    ['one for this job', { jobId: 'j1' }, true],
    ['one for another job', { jobId: 'j2' }, false],
    ['one for final statuses', { statuses: ['FINISHED', 'FAILED'] }, true],
    ['one for other statuses', { statuses: ['FINISHED'] }, false],
    ['one for task events only', { events: ['task.*'] }, false],
  ])('%s: %s', (_case, overrides, expected) => {
    expect(matchesSubscription({ ...base, ...overrides }, event, now)).toBe(expected);
  });
});

describe('task events', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  const failed: NotifiableEvent = {
    type: 'task.status.changed',
    owner: 'alice',
    jobId: 'j1',
    status: 'FAILED',
  };
  const base: SubscriptionFilter = { owner: 'alice', events: ['task.*'], enabled: true };

  it.each<[string, Partial<SubscriptionFilter>, boolean]>([
    ['one for task events', {}, true],
    ['one for job events only', { events: ['job.*'] }, false],
    ['one for everything: task events are opt-in', { events: ['*'] }, false],
    ['one for failures of jobs and tasks', { events: ['job.*', 'task.*'], statuses: ['FAILED'] }, true],
    ['one for successes only', { statuses: ['SUCCEEDED'] }, false],
    ['one for another job', { jobId: 'j2' }, false],
  ])('%s', (_case, overrides, expected) => {
    expect(matchesSubscription({ ...base, ...overrides }, failed, now)).toBe(expected);
  });

  it.each<[string, Partial<SubscriptionFilter>, boolean]>([
    ['an enabled task subscription', {}, true],
    ['one filtering statuses (they are judged per event later)', { statuses: ['SKIPPED'] }, true],
    ['one for job events', { events: ['job.*'] }, false],
    ['a disabled one', { enabled: false }, false],
    ['an expired one', { expiresAt: '2026-11-23T11:00:00Z' }, false],
    ['one for this job', { jobId: 'j1' }, true],
    ['one for another job', { jobId: 'j2' }, false],
  ])('should want task events of a job: %s', (_case, overrides, expected) => {
    expect(wantsTaskEvents({ ...base, ...overrides }, 'j1', now)).toBe(expected);
  });
});

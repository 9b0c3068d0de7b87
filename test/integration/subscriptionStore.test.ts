import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { tablesOf } from '../support/storage.js';
import { TableSubscriptionStore } from '../../shared/adapters/tableSubscriptionStore.js';
import type { SubscriptionRecord } from '../../shared/store/subscriptionStore.js';

/** A store on its own table, so tests never see each other's rows. */
const freshStore = () =>
  new TableSubscriptionStore({
    tables: tablesOf(inject('azurite')),
    tablePrefix: `s${randomBytes(4).toString('hex')}`,
  });

const subscription = (over: Partial<SubscriptionRecord> = {}): SubscriptionRecord => ({
  id: randomUUID(),
  owner: 'alice',
  target: { kind: 'webhook', url: 'https://hooks.example.org/x' },
  events: ['job.*'],
  enabled: true,
  perJob: false,
  createdAt: new Date().toISOString(),
  secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0',
  ...over,
});

describe('subscription store on Azure Tables', () => {
  it('should list only enabled subscriptions for delivery, and turn them off and on again', async () => {
    const store = freshStore();
    const on = subscription();
    const ended = subscription({ id: 'job-1-n1', perJob: true, jobId: 'job-1', secret: '' });
    await store.create(on);
    await store.createIfAbsent(ended);
    await store.createIfAbsent({ ...ended, events: ['job.status.changed'] });
    await store.create(subscription({ owner: 'bob' }));
    await store.setOwnerSecret('alice', 'whsec_b3duZXJzZWNyZXRvd25lcnNlY3JldA==');
    expect(await store.disable('alice', ended.id, 'the job ended')).toBe(true);

    expect((await store.list('alice')).map((s) => s.id).sort()).toEqual([on.id, ended.id].sort());
    expect((await store.listEnabled('alice')).map((s) => s.id)).toEqual([on.id]);
    expect(await store.get('alice', ended.id)).toMatchObject({
      enabled: false,
      disabledReason: 'the job ended',
      events: ['job.*'],
    });
    const at = new Date().toISOString();
    expect(await store.enable('alice', ended.id, at)).toBe(true);
    const again = await store.get('alice', ended.id);
    expect(again).toMatchObject({ enabled: true, enabledAt: at });
    expect(again!.disabledReason).toBeUndefined();
    expect(await store.disable('alice', 'missing', 'x')).toBe(false);
    expect(await store.enable('bob', on.id, at)).toBe(false);
  });

  it("should rotate a subscription's secret keeping the one it replaced", async () => {
    const store = freshStore();
    const original = subscription();
    await store.create(original);
    const until = new Date(Date.now() + 86_400_000).toISOString();

    expect(await store.rotateSecret('alice', original.id, 'whsec_b25l', until)).toBe(true);
    expect(await store.get('alice', original.id)).toEqual({
      ...original,
      secret: 'whsec_b25l',
      previousSecret: { secret: original.secret, until },
    });

    expect(await store.rotateSecret('alice', original.id, 'whsec_dHdv', until)).toBe(true);
    expect(await store.get('alice', original.id)).toMatchObject({
      secret: 'whsec_dHdv',
      previousSecret: { secret: 'whsec_b25l', until },
    });

    expect(await store.rotateSecret('alice', 'missing', 'whsec_x', until)).toBe(false);
    expect(await store.rotateSecret('bob', original.id, 'whsec_x', until)).toBe(false);
  });

  it('should keep the replaced owner secret beside the new one only when asked to', async () => {
    const store = freshStore();
    expect(await store.ownerSecret('alice')).toBeUndefined();
    expect(await store.setOwnerSecret('alice', 'first', { onlyIfAbsent: true })).toBe('first');
    expect(await store.setOwnerSecret('alice', 'ignored', { onlyIfAbsent: true })).toBe('first');
    expect(await store.ownerSecret('alice')).toEqual({ secret: 'first' });
    const until = new Date(Date.now() + 86_400_000).toISOString();
    await store.setOwnerSecret('alice', 'second', { previousUntil: until });
    expect(await store.ownerSecret('alice')).toEqual({
      secret: 'second',
      previous: { secret: 'first', until },
    });
    await store.setOwnerSecret('alice', 'third');
    expect(await store.ownerSecret('alice')).toEqual({ secret: 'third' });
  });
});

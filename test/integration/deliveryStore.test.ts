import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { tablesOf } from '../support/storage.js';
import { TableDeliveryStore } from '../../shared/adapters/tableDeliveryStore.js';
import type { DeliveryRecord } from '../../shared/store/deliveryStore.js';

const hex = (n: number) => randomBytes(n).toString('hex');

/** A store on its own table, so tests never see each other's rows (or due entries). */
function freshStore(): TableDeliveryStore {
  return new TableDeliveryStore({ tables: tablesOf(inject('azurite')), tablePrefix: `d${hex(4)}` });
}

const AT = '2026-03-01T12:00:00.000Z';

function delivery(
  subscriptionId: string,
  jobId: string,
  sequence: number,
  overrides: Partial<Omit<DeliveryRecord, 'etag'>> = {},
): Omit<DeliveryRecord, 'etag'> {
  return {
    subscriptionId,
    id: `${jobId}:${sequence}`,
    jobId,
    sequence,
    eventType: 'job.status.changed',
    body: JSON.stringify({ type: 'job.status.changed', data: { jobId, sequence } }),
    status: 'pending',
    attempts: [],
    createdAt: AT,
    updatedAt: AT,
    ...overrides,
  };
}

const at = (iso: string) => new Date(iso);

describe('delivery store on Azure Tables', () => {
  it('should keep a task batch apart from the job event of the same number, its body whole however long', async () => {
    const store = freshStore();
    const sub = randomUUID();
    // 100 task events with long failure messages: several times what one table property holds.
    const events = Array.from({ length: 100 }, (_, i) => ({
      id: `job-1:t${i + 7}`,
      data: { taskId: `task-${i}`, failure: { message: `ünïcode ${'x'.repeat(1200)} ${i}` } },
    }));
    const body = JSON.stringify(events);
    expect(body.length).toBeGreaterThan(100_000);
    const batch = delivery(sub, 'job-1', 7, {
      id: 'job-1:t7',
      eventType: 'task.status.changed',
      lastSequence: 120,
      events: 100,
      body,
    });
    const added = await store.add(batch);
    await store.add(delivery(sub, 'job-1', 7));

    expect(await store.get(sub, 'job-1:t7')).toEqual({ ...batch, etag: added.etag });
    expect((await store.get(sub, 'job-1:7'))!.eventType).toBe('job.status.changed');
    const claimed = await store.replace({ ...added, status: 'delivered' });
    expect((await store.get(sub, 'job-1:t7'))!.body).toBe(body);
    expect(claimed).toBeDefined();
    // The stream says where it stands without the bodies: job events first, then task batches.
    expect(await store.stream(sub, 'job-1')).toEqual([
      expect.objectContaining({ id: 'job-1:7', sequence: 7, eventType: 'job.status.changed' }),
      {
        subscriptionId: sub,
        id: 'job-1:t7',
        jobId: 'job-1',
        sequence: 7,
        lastSequence: 120,
        events: 100,
        eventType: 'task.status.changed',
        status: 'delivered',
        createdAt: AT,
        updatedAt: AT,
        etag: claimed!.etag,
      },
    ]);
    expect((await store.list(sub, { limit: 10 })).items.map((d) => [d.id, d.body.length])).toEqual([
      ['job-1:7', expect.any(Number)],
      ['job-1:t7', body.length],
    ]);
  });

  it('should add a delivery once and return the stored one for a repeated add', async () => {
    const store = freshStore();
    const sub = randomUUID();
    const first = delivery(sub, 'job-1', 3, {
      status: 'retrying',
      attempts: [{ at: AT, durationMs: 12, outcome: 'failed', statusCode: 503 }],
      nextAttemptAt: '2026-03-01T12:00:05.000Z',
      claimedUntil: '2026-03-01T12:00:30.000Z',
    });
    const added = await store.add(first);
    expect(added).toMatchObject(first);
    expect(added.etag).toBeTruthy();
    const again = await store.add(delivery(sub, 'job-1', 3, { body: '{"other":true}', eventType: 'other' }));
    expect(again).toEqual({ ...first, etag: added.etag });
    expect(await store.get(sub, 'job-1:3')).toEqual({ ...first, etag: added.etag });
    expect(await store.stream(sub, 'job-1')).toHaveLength(1);
  });

  it('should stream one job’s deliveries in sequence order, and no other job’s or subscription’s', async () => {
    const store = freshStore();
    const sub = randomUUID();
    for (const sequence of [10, 2, 1, 100]) await store.add(delivery(sub, 'job-1', sequence));
    // job-10's row keys start with job-1's id; job-0, job-1a and job-2 sit either side of it.
    await store.add(delivery(sub, 'job-10', 1));
    await store.add(delivery(sub, 'job-1a', 1));
    await store.add(delivery(sub, 'job-0', 5));
    await store.add(delivery(sub, 'job-2', 1));
    await store.add(delivery(randomUUID(), 'job-1', 4));
    const stream = await store.stream(sub, 'job-1');
    expect(stream.map((d) => d.sequence)).toEqual([1, 2, 10, 100]);
    expect(stream.map((d) => d.id)).toEqual(['job-1:1', 'job-1:2', 'job-1:10', 'job-1:100']);
    expect(stream.every((d) => d.subscriptionId === sub && d.jobId === 'job-1')).toBe(true);
    expect((await store.stream(sub, 'job-10')).map((d) => d.id)).toEqual(['job-10:1']);
    expect((await store.stream(sub, 'job-1a')).map((d) => d.id)).toEqual(['job-1a:1']);
    expect(await store.stream(sub, 'job-3')).toEqual([]);
  });

  it('should replace a delivery only with its current etag', async () => {
    const store = freshStore();
    const sub = randomUUID();
    const added = await store.add(delivery(sub, 'job-1', 1));
    const attempt = { at: '2026-03-01T12:00:01.000Z', durationMs: 40, outcome: 'delivered' as const };
    const replaced = await store.replace({
      ...added,
      status: 'delivered',
      attempts: [attempt],
      updatedAt: attempt.at,
    });
    expect(replaced).toBeDefined();
    expect(replaced!.etag).toBeTruthy();
    expect(replaced!.etag).not.toBe(added.etag);
    expect(await store.get(sub, 'job-1:1')).toEqual(replaced);
    // A writer still holding the first version loses.
    expect(await store.replace({ ...added, status: 'dead-lettered' })).toBeUndefined();
    expect(await store.get(sub, 'job-1:1')).toMatchObject({ status: 'delivered', attempts: [attempt] });
    // The current version wins again, and may drop optional fields.
    const retrying = await store.replace({ ...replaced!, status: 'retrying', nextAttemptAt: AT });
    expect(retrying).toBeDefined();
    const cleared: DeliveryRecord = { ...retrying! };
    delete cleared.nextAttemptAt;
    const final = await store.replace(cleared);
    expect(final).toBeDefined();
    const stored = await store.get(sub, 'job-1:1');
    expect(stored).toEqual(final);
    expect(stored).not.toHaveProperty('nextAttemptAt');
    // Nothing to replace.
    expect(await store.replace({ ...added, id: 'job-1:2', sequence: 2 })).toBeUndefined();
  });

  it('should get a delivery by `<jobId>:<sequence>`, and nothing for unknown or malformed ids', async () => {
    const store = freshStore();
    const sub = randomUUID();
    await store.add(delivery(sub, 'job-1', 7));
    await store.add(delivery(sub, 'job-1', 12));
    expect(await store.get(sub, 'job-1:7')).toMatchObject({ id: 'job-1:7', jobId: 'job-1', sequence: 7 });
    expect(await store.get(sub, 'job-1:12')).toMatchObject({ id: 'job-1:12', sequence: 12 });
    expect(await store.get(sub, 'job-1:8')).toBeUndefined();
    expect(await store.get(sub, 'job-2:7')).toBeUndefined();
    expect(await store.get(randomUUID(), 'job-1:7')).toBeUndefined();
    expect(await store.get(sub, 'job-1')).toBeUndefined();
    expect(await store.get(sub, 'job-1:')).toBeUndefined();
    expect(await store.get(sub, 'job-1:x')).toBeUndefined();
    expect(await store.get(sub, '')).toBeUndefined();
  });

  it('should list a subscription’s deliveries by job then sequence, filtered, in pages', async () => {
    const store = freshStore();
    const sub = randomUUID();
    await store.add(delivery(sub, 'job-b', 2, { status: 'delivered' }));
    await store.add(delivery(sub, 'job-a', 10, { status: 'dead-lettered' }));
    await store.add(delivery(sub, 'job-b', 1, { status: 'retrying' }));
    await store.add(delivery(sub, 'job-a', 2, { status: 'delivered' }));
    await store.add(delivery(sub, 'job-a', 1, { status: 'delivered' }));
    await store.add(delivery(randomUUID(), 'job-a', 3));
    const seen: string[] = [];
    let pages = 0;
    let continuation: string | undefined;
    do {
      const page = await store.list(sub, { limit: 2, ...(continuation ? { continuation } : {}) });
      expect(page.items.length).toBeGreaterThan(0);
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((d) => d.id));
      continuation = page.continuation;
      pages++;
    } while (continuation && pages < 10);
    expect(seen).toEqual(['job-a:1', 'job-a:2', 'job-a:10', 'job-b:1', 'job-b:2']);
    expect(pages).toBe(3);
    const ids = async (options: Parameters<TableDeliveryStore['list']>[1]) =>
      (await store.list(sub, options)).items.map((d) => d.id);
    expect(await ids({ jobId: 'job-b', limit: 10 })).toEqual(['job-b:1', 'job-b:2']);
    expect(await ids({ jobId: 'job-', limit: 10 })).toEqual([]);
    expect(await ids({ status: 'delivered', limit: 10 })).toEqual(['job-a:1', 'job-a:2', 'job-b:2']);
    expect(await ids({ jobId: 'job-a', status: 'delivered', limit: 10 })).toEqual(['job-a:1', 'job-a:2']);
    expect(await ids({ jobId: 'job-a', status: 'pending', limit: 10 })).toEqual([]);
    // Paging through a filtered listing.
    const first = await store.list(sub, { status: 'delivered', limit: 2 });
    expect(first.items.map((d) => d.id)).toEqual(['job-a:1', 'job-a:2']);
    expect(first.continuation).toBeDefined();
    const second = await store.list(sub, {
      status: 'delivered',
      limit: 2,
      continuation: first.continuation!,
    });
    expect(second.items.map((d) => d.id)).toEqual(['job-b:2']);
    expect(second.continuation).toBeUndefined();
    expect((await store.list(randomUUID(), { limit: 10 })).items).toEqual([]);
  });

  it('should keep the earlier due time unless told to replace it, and move the etag on every markDue', async () => {
    const store = freshStore();
    const stream = { owner: 'alice', subscriptionId: randomUUID(), jobId: 'job-1' };
    expect(await store.dueEntry(stream.subscriptionId, stream.jobId)).toBeUndefined();
    await store.markDue(stream, at('2026-03-01T12:05:00.000Z'));
    const first = await store.dueEntry(stream.subscriptionId, stream.jobId);
    expect(first).toMatchObject({ ...stream, dueAt: '2026-03-01T12:05:00.000Z' });
    expect(first!.etag).toBeTruthy();
    // Earlier wins.
    await store.markDue(stream, at('2026-03-01T12:01:00.000Z'));
    const earlier = await store.dueEntry(stream.subscriptionId, stream.jobId);
    expect(earlier).toMatchObject({ dueAt: '2026-03-01T12:01:00.000Z' });
    expect(earlier!.etag).not.toBe(first!.etag);
    // Later is ignored, but still tells a reader that something happened.
    await store.markDue(stream, at('2026-03-01T12:10:00.000Z'));
    const later = await store.dueEntry(stream.subscriptionId, stream.jobId);
    expect(later).toMatchObject({ dueAt: '2026-03-01T12:01:00.000Z' });
    expect(later!.etag).not.toBe(earlier!.etag);
    // The same time again also moves the etag.
    await store.markDue(stream, at('2026-03-01T12:01:00.000Z'));
    const same = await store.dueEntry(stream.subscriptionId, stream.jobId);
    expect(same).toMatchObject({ dueAt: '2026-03-01T12:01:00.000Z' });
    expect(same!.etag).not.toBe(later!.etag);
    // replace sets the time, later or not.
    await store.markDue(stream, at('2026-03-01T12:10:00.000Z'), { replace: true });
    const replaced = await store.dueEntry(stream.subscriptionId, stream.jobId);
    expect(replaced).toMatchObject({ dueAt: '2026-03-01T12:10:00.000Z' });
    expect(replaced!.etag).not.toBe(same!.etag);
    // Another job's stream of the same subscription is its own entry.
    expect(await store.dueEntry(stream.subscriptionId, 'job-2')).toBeUndefined();
  });

  it('should keep the earliest of due times marked at the same moment', async () => {
    const store = freshStore();
    const stream = { owner: 'alice', subscriptionId: randomUUID(), jobId: 'job-1' };
    const minutes = [10, 3, 7, 1, 9, 5, 8, 2, 6, 4];
    await Promise.all(
      minutes.map((m) => store.markDue(stream, at(`2026-03-01T12:${String(m).padStart(2, '0')}:00.000Z`))),
    );
    expect(await store.dueEntry(stream.subscriptionId, stream.jobId)).toMatchObject({
      dueAt: '2026-03-01T12:01:00.000Z',
    });
  });

  it('should forget a deleted subscription’s deliveries and due entries, and nobody else’s', async () => {
    const store = freshStore();
    const gone = 'job-a-n1';
    const kept = 'job-a-n10';
    // More than one transaction's worth of rows.
    for (let sequence = 1; sequence <= 130; sequence++) await store.add(delivery(gone, 'job-a', sequence));
    await store.add(delivery(kept, 'job-a', 1));
    await store.markDue({ owner: 'alice', subscriptionId: gone, jobId: 'job-a' }, at(AT));
    await store.markDue({ owner: 'alice', subscriptionId: gone, jobId: 'job-b' }, at(AT));
    await store.markDue({ owner: 'alice', subscriptionId: kept, jobId: 'job-a' }, at(AT));

    await store.forget(gone);
    expect(await store.stream(gone, 'job-a')).toEqual([]);
    expect(await store.dueEntry(gone, 'job-a')).toBeUndefined();
    expect(await store.dueEntry(gone, 'job-b')).toBeUndefined();
    expect((await store.stream(kept, 'job-a')).map((d) => d.sequence)).toEqual([1]);
    expect(await store.dueEntry(kept, 'job-a')).toBeDefined();
    // Forgetting again (or a subscription with nothing) is harmless.
    await store.forget(gone);
    await store.forget(randomUUID());
  });

  it('should forget one job’s deliveries and due entry of a subscription, and not those of a job whose id it begins', async () => {
    const store = freshStore();
    const sub = randomUUID();
    for (let sequence = 1; sequence <= 110; sequence++) await store.add(delivery(sub, 'job-a', sequence));
    await store.add(delivery(sub, 'job-a', 111, { id: 'job-a:t111', eventType: 'task.status.changed' }));
    await store.add(delivery(sub, 'job-ab', 1));
    await store.add(delivery(sub, 'job-b', 1));
    for (const jobId of ['job-a', 'job-ab', 'job-b']) {
      await store.markDue({ owner: 'alice', subscriptionId: sub, jobId }, at(AT));
    }

    await store.forget(sub, { jobId: 'job-a' });

    expect(await store.stream(sub, 'job-a')).toEqual([]);
    expect(await store.dueEntry(sub, 'job-a')).toBeUndefined();
    for (const jobId of ['job-ab', 'job-b']) {
      expect((await store.stream(sub, jobId)).map((d) => d.sequence)).toEqual([1]);
      expect(await store.dueEntry(sub, jobId)).toBeDefined();
    }
    await store.forget(sub, { jobId: 'job-a' });
  });

  it('should list the streams due at or before now, oldest first, at most limit', async () => {
    const store = freshStore();
    const sub = randomUUID();
    const now = at('2026-03-01T12:00:00.000Z');
    const mark = (jobId: string, iso: string) =>
      store.markDue({ owner: 'alice', subscriptionId: sub, jobId }, at(iso));
    await mark('job-late', '2026-03-01T12:00:00.001Z');
    await mark('job-now', '2026-03-01T12:00:00.000Z');
    await mark('job-old', '2026-02-28T23:59:59.000Z');
    await mark('job-recent', '2026-03-01T11:59:00.000Z');
    await mark('job-future', '2026-03-02T00:00:00.000Z');
    await store.markDue(
      { owner: 'bob', subscriptionId: randomUUID(), jobId: 'job-x' },
      at('2026-03-01T11:00:00.000Z'),
    );
    const due = await store.due(now, 10);
    expect(due.map((d) => [d.jobId, d.dueAt])).toEqual([
      ['job-old', '2026-02-28T23:59:59.000Z'],
      ['job-x', '2026-03-01T11:00:00.000Z'],
      ['job-recent', '2026-03-01T11:59:00.000Z'],
      ['job-now', '2026-03-01T12:00:00.000Z'],
    ]);
    expect(due[0]).toMatchObject({ owner: 'alice', subscriptionId: sub });
    expect(due[1]).toMatchObject({ owner: 'bob' });
    expect(due.every((d) => d.etag)).toBe(true);
    expect((await store.due(now, 2)).map((d) => d.jobId)).toEqual(['job-old', 'job-x']);
    expect(await store.due(at('2026-01-01T00:00:00.000Z'), 10)).toEqual([]);
  });

  it('should postpone a due entry only as it was read', async () => {
    const store = freshStore();
    const stream = { owner: 'alice', subscriptionId: randomUUID(), jobId: 'job-1' };
    await store.markDue(stream, at('2026-03-01T12:00:00.000Z'));
    const read = (await store.dueEntry(stream.subscriptionId, stream.jobId))!;
    // News arrives after the read: the read entry is stale.
    await store.markDue(stream, at('2026-03-01T12:30:00.000Z'));
    expect(await store.postpone(read, at('2026-03-01T13:00:00.000Z'))).toBe(false);
    expect(await store.dueEntry(stream.subscriptionId, stream.jobId)).toMatchObject({
      dueAt: '2026-03-01T12:00:00.000Z',
    });
    const current = (await store.dueEntry(stream.subscriptionId, stream.jobId))!;
    expect(await store.postpone(current, at('2026-03-01T13:00:00.000Z'))).toBe(true);
    const moved = await store.dueEntry(stream.subscriptionId, stream.jobId);
    expect(moved).toMatchObject({ ...stream, dueAt: '2026-03-01T13:00:00.000Z' });
    expect(moved!.etag).not.toBe(current.etag);
    expect(await store.due(at('2026-03-01T12:59:59.999Z'), 10)).toEqual([]);
    expect((await store.due(at('2026-03-01T13:00:00.000Z'), 10)).map((d) => d.jobId)).toEqual(['job-1']);
    // A postponed entry is postponed once per read.
    expect(await store.postpone(current, at('2026-03-01T14:00:00.000Z'))).toBe(false);
  });

  it('should clear a due entry only as it was read, and count a missing one as cleared', async () => {
    const store = freshStore();
    const stream = { owner: 'alice', subscriptionId: randomUUID(), jobId: 'job-1' };
    await store.markDue(stream, at('2026-03-01T12:00:00.000Z'));
    const read = (await store.dueEntry(stream.subscriptionId, stream.jobId))!;
    // Someone makes it due again while a drain finishes: the drain must not clear it.
    await store.markDue(stream, at('2026-03-01T12:00:00.000Z'));
    expect(await store.clearDue(read)).toBe(false);
    expect(await store.dueEntry(stream.subscriptionId, stream.jobId)).toBeDefined();
    const current = (await store.dueEntry(stream.subscriptionId, stream.jobId))!;
    expect(await store.clearDue(current)).toBe(true);
    expect(await store.dueEntry(stream.subscriptionId, stream.jobId)).toBeUndefined();
    expect(await store.due(at('2027-01-01T00:00:00.000Z'), 10)).toEqual([]);
    // Already gone, and never there.
    expect(await store.clearDue(current)).toBe(true);
    expect(await store.clearDue({ ...current, jobId: 'job-never' })).toBe(true);
    // A missing entry cannot be postponed.
    expect(await store.postpone(current, at('2026-03-01T13:00:00.000Z'))).toBe(false);
  });
});

import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, inject, it } from 'vitest';
import { tablesOf } from '../support/storage.js';
import { TableJobStore } from '../../shared/adapters/tableJobStore.js';
import type { JobSpec } from '../../shared/domain/jobSpec.js';
import type { JobListOptions, NewJob } from '../../shared/store/jobStore.js';
import { isAppError } from '../../shared/errors.js';
import { taskViewSchema } from '../../shared/http/openapi.js';

const hex = (n: number) => randomBytes(n).toString('hex');

/** A store on its own tables and container, so tests never see each other's rows. */
function freshStore(): TableJobStore {
  const connectionString = inject('azurite');
  const prefix = `t${hex(4)}`;
  return new TableJobStore({
    tables: tablesOf(connectionString),
    tablePrefix: prefix,
    specs: BlobServiceClient.fromConnectionString(connectionString).getContainerClient(`${prefix}-specs`),
  });
}

const spec: JobSpec = { name: 'demo', tasks: [{ id: 'a', command: 'echo a' }] };

function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    id: `job-${hex(6)}`,
    owner: 'alice',
    spec,
    name: 'demo',
    pool: 'local',
    tags: { project: 'x' },
    taskCount: 1,
    at: new Date().toISOString(),
    ...overrides,
  };
}

async function failure(action: () => Promise<unknown>): Promise<{ code?: string; status?: number }> {
  try {
    await action();
  } catch (error) {
    if (isAppError(error)) return { code: error.code, status: error.status };
    throw error;
  }
  throw new Error('expected a failure');
}

describe('job store on Azure Tables', () => {
  it('should create a job as PENDING with its first history entry, and find it by id alone', async () => {
    const store = freshStore();
    const job = newJob({ description: 'first' });
    const { job: created, created: isNew } = await store.createJob(job);
    expect(isNew).toBe(true);
    expect(created).toMatchObject({
      id: job.id,
      owner: 'alice',
      status: 'PENDING',
      sequence: 1,
      description: 'first',
      tags: { project: 'x' },
      taskCount: 1,
      taskCounts: { PENDING: 1, RUNNING: 0 },
    });
    expect(await store.getJob(job.id)).toMatchObject({ id: job.id, owner: 'alice' });
    expect(await store.getSpec(job.id)).toEqual(spec);
    expect(await store.history(job.id)).toEqual([
      {
        sequence: 1,
        status: 'PENDING',
        message: 'submitted',
        at: job.at,
        taskCounts: { PENDING: 1, QUEUED: 0, RUNNING: 0, SUCCEEDED: 0, FAILED: 0, SKIPPED: 0, CANCELLED: 0 },
      },
    ]);
    expect(await store.getJob('job-missing')).toBeUndefined();
  });

  it('should keep a spec too large for a table row in a blob', async () => {
    const store = freshStore();
    const large: JobSpec = {
      name: 'big',
      tasks: Array.from({ length: 10_000 }, (_, i) => ({
        id: `t${i}`,
        command: `python3 step.py --index ${i} --long-argument-name`,
      })),
    };
    const job = newJob({ spec: large, taskCount: 10_000 });
    await store.createJob(job);
    expect(await store.getSpec(job.id)).toEqual(large);
  });

  it('should return the same job for a repeated Idempotency-Key, and refuse it for another request', async () => {
    const store = freshStore();
    const idempotency = { key: 'retry-me', requestDigest: 'digest-1' };
    const first = await store.createJob(newJob({ idempotency }));
    const again = await store.createJob(newJob({ idempotency }));
    expect(again).toMatchObject({ created: false, job: { id: first.job.id } });
    expect(
      await failure(() =>
        store.createJob(newJob({ idempotency: { key: 'retry-me', requestDigest: 'other' } })),
      ),
    ).toEqual({
      code: 'IDEMPOTENCY_KEY_REUSED',
      status: 409,
    });
    // Keys are per owner: bob's identical key is his own.
    const bobs = await store.createJob(newJob({ owner: 'bob', idempotency }));
    expect(bobs.created).toBe(true);
  });

  it('should create one job when racing submissions share an Idempotency-Key', async () => {
    const store = freshStore();
    const idempotency = { key: 'race', requestDigest: 'same' };
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => store.createJob(newJob({ idempotency }))),
    );
    const ids = new Set(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.job.id] : [])));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.status === 'fulfilled' && r.value.created)).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected')
        expect((r.reason as { code: string }).code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
    }
  });

  it('should change status only through the lifecycle, append history once, and ignore a repeated report', async () => {
    const store = freshStore();
    const job = newJob();
    await store.createJob(job);
    const at = () => new Date().toISOString();
    expect(
      (await store.recordStatus(job.id, { to: 'PROCESSING_INPUTS', message: 'expanding', at: at() })).changed,
    ).toBe(true);
    expect(
      (await store.recordStatus(job.id, { to: 'PROCESSING_INPUTS', message: 'again', at: at() })).changed,
    ).toBe(false);
    expect(
      await failure(() =>
        store.recordStatus(job.id, {
          to: 'FINISHED',
          message: 'skip ahead',
          condition: 'NORMAL_COMPLETION',
          at: at(),
        }),
      ),
    ).toEqual({
      code: 'INVALID_TRANSITION',
      status: 409,
    });
    await store.recordStatus(job.id, { to: 'BLOCKED', message: 'quota', at: at() });
    const resumed = await store.recordStatus(job.id, {
      to: 'STAGING_INPUTS',
      message: 'quota freed',
      at: at(),
    });
    expect(resumed.job).toMatchObject({ status: 'STAGING_INPUTS', sequence: 4 });
    expect(resumed.job.resumeStatus).toBeUndefined();
    await store.recordStatus(job.id, {
      to: 'FAILED',
      message: 'task 3 failed',
      condition: 'TASK_FAILED',
      exitCodes: { '3': 2 },
      taskCounts: { PENDING: 0, QUEUED: 0, RUNNING: 0, SUCCEEDED: 0, FAILED: 1, SKIPPED: 0, CANCELLED: 0 },
      at: at(),
    });
    // The change that ended the job keeps, in its history entry, what it said then: a late
    // notification tells the counts and exit codes of that moment.
    expect((await store.history(job.id)).at(-1)).toMatchObject({
      exitCodes: { '3': 2 },
      taskCounts: { FAILED: 1 },
    });
    expect(await store.getJob(job.id)).toMatchObject({
      status: 'FAILED',
      condition: 'TASK_FAILED',
      exitCodes: { '3': 2 },
    });
    expect((await store.history(job.id)).map((h) => [h.sequence, h.previousStatus, h.status])).toEqual([
      [1, undefined, 'PENDING'],
      [2, 'PENDING', 'PROCESSING_INPUTS'],
      [3, 'PROCESSING_INPUTS', 'BLOCKED'],
      [4, 'BLOCKED', 'STAGING_INPUTS'],
      [5, 'STAGING_INPUTS', 'FAILED'],
    ]);
    expect(
      await failure(() => store.recordStatus(job.id, { to: 'RUNNING', message: 'late', at: at() })),
    ).toMatchObject({
      code: 'INVALID_TRANSITION',
    });
  });

  it('should let exactly one of two racing writers make a change, and lose no history', async () => {
    const store = freshStore();
    const job = newJob();
    await store.createJob(job);
    await store.recordStatus(job.id, {
      to: 'PROCESSING_INPUTS',
      message: 'go',
      at: new Date().toISOString(),
    });
    // One writer cancels while the other moves the job on: both read the same version.
    const results = await Promise.allSettled([
      store.recordStatus(job.id, {
        to: 'CANCELLED',
        message: 'user cancelled',
        condition: 'CANCELLED_BY_USER',
        at: new Date().toISOString(),
      }),
      store.recordStatus(job.id, { to: 'STAGING_INPUTS', message: 'staging', at: new Date().toISOString() }),
    ]);
    const history = await store.history(job.id);
    expect(history.map((h) => h.sequence)).toEqual(history.map((_, i) => i + 1));
    const final = (await store.getJob(job.id))!;
    expect(final.sequence).toBe(history.length);
    expect(history.at(-1)!.status).toBe(final.status);
    // Either the cancel came second (both applied) or first (the move was then refused).
    if (final.status === 'CANCELLED' && history.length === 3) {
      expect(results[1]).toMatchObject({ status: 'rejected' });
    } else {
      expect(history.map((h) => h.status)).toEqual([
        'PENDING',
        'PROCESSING_INPUTS',
        'STAGING_INPUTS',
        'CANCELLED',
      ]);
    }
  });

  it('should list an owner’s jobs newest first, filtered, in pages', async () => {
    const store = freshStore();
    const base = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < 7; i++) {
      await store.createJob(
        newJob({ id: `job-${i}`, name: i % 2 ? 'odd' : 'even', at: new Date(base + i * 1000).toISOString() }),
      );
    }
    await store.createJob(newJob({ id: 'bobs', owner: 'bob' }));
    await store.recordStatus('job-3', {
      to: 'CANCELLED',
      message: 'x',
      condition: 'CANCELLED_BY_USER',
      at: new Date().toISOString(),
    });
    const seen: string[] = [];
    let continuation: string | undefined;
    do {
      const page = await store.listJobs('alice', { limit: 3, ...(continuation ? { continuation } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((j) => j.id));
      continuation = page.continuation;
    } while (continuation);
    expect(seen).toEqual(['job-6', 'job-5', 'job-4', 'job-3', 'job-2', 'job-1', 'job-0']);
    expect((await store.listJobs('alice', { limit: 10, name: 'odd' })).items.map((j) => j.id)).toEqual([
      'job-5',
      'job-3',
      'job-1',
    ]);
    expect(
      (await store.listJobs('alice', { limit: 10, status: 'CANCELLED' })).items.map((j) => j.id),
    ).toEqual(['job-3']);
    expect((await store.listJobs('bob', { limit: 10 })).items.map((j) => j.id)).toEqual(['bobs']);
    expect(await failure(() => store.listJobs('alice', { limit: 3, continuation: 'forged' }))).toMatchObject({
      status: 400,
    });
  });

  it('should list by tag and by submission time in the query, paging through the matches', async () => {
    const store = freshStore();
    const base = Date.parse('2026-03-01T00:00:00Z');
    const at = (i: number) => new Date(base + i * 60_000).toISOString();
    for (let i = 0; i < 9; i++) {
      const tags: Record<string, string> =
        i % 3 === 0 ? { 'team/α b': 'x' } : i % 3 === 1 ? { 'team/α b': "y'z" } : { other: 'x' };
      await store.createJob(newJob({ id: `t-${i}`, at: at(i), tags }));
    }
    const ids = async (options: Omit<JobListOptions, 'limit' | 'continuation'>) => {
      const seen: string[] = [];
      let continuation: string | undefined;
      do {
        const page = await store.listJobs('alice', {
          ...options,
          limit: 2,
          ...(continuation ? { continuation } : {}),
        });
        seen.push(...page.items.map((j) => j.id));
        continuation = page.continuation;
      } while (continuation);
      return seen;
    };
    expect(await ids({ tag: { key: 'team/α b' } })).toEqual(['t-7', 't-6', 't-4', 't-3', 't-1', 't-0']);
    expect(await ids({ tag: { key: 'team/α b', value: "y'z" } })).toEqual(['t-7', 't-4', 't-1']);
    expect(await ids({ tag: { key: 'team/α b', value: 'y' } })).toEqual([]);
    expect(await ids({ tag: { key: 'missing' } })).toEqual([]);
    // At or after the first bound, before the second: minute 2 is in, minute 6 is out.
    expect(await ids({ createdAfter: at(2), createdBefore: at(6) })).toEqual(['t-5', 't-4', 't-3', 't-2']);
    expect(await ids({ createdAfter: at(7) })).toEqual(['t-8', 't-7']);
    expect(await ids({ createdBefore: at(1) })).toEqual(['t-0']);
    expect(await ids({ createdAfter: at(3), tag: { key: 'other', value: 'x' } })).toEqual(['t-8', 't-5']);
  });

  it('should keep a job’s priority, change it, and list it', async () => {
    const store = freshStore();
    await store.createJob(newJob({ id: 'urgent', priority: 12 }));
    await store.createJob(newJob({ id: 'plain' }));
    expect((await store.getJob('urgent'))?.priority).toBe(12);
    expect((await store.getJob('plain'))?.priority).toBe(0);
    expect((await store.setPriority('urgent', -3)).priority).toBe(-3);
    expect(
      (await store.listJobs('alice', { limit: 10 })).items.map((j) => [j.id, j.priority]).sort(),
    ).toEqual([
      ['plain', 0],
      ['urgent', -3],
    ]);
    // The rest of the record is as it was.
    expect(await store.getJob('urgent')).toMatchObject({
      status: 'PENDING',
      name: 'demo',
      tags: { project: 'x' },
    });
    expect(await failure(() => store.setPriority('nobody', 1))).toMatchObject({ code: 'JOB_NOT_FOUND' });
  });

  it('should list by priority, highest first then newest, in pages that follow changes', async () => {
    const store = freshStore();
    const base = Date.parse('2026-03-01T00:00:00Z');
    const at = (i: number) => new Date(base + i * 60_000).toISOString();
    const priorities = [0, 5, -2, 5, 0, 1000, -1000];
    for (const [i, priority] of priorities.entries()) {
      await store.createJob(newJob({ id: `p-${i}`, at: at(i), priority }));
    }
    const pages = async (options: Omit<JobListOptions, 'limit' | 'continuation' | 'sort'>, limit = 2) => {
      const seen: string[][] = [];
      let continuation: string | undefined;
      do {
        const page = await store.listJobs('alice', {
          ...options,
          sort: 'priority',
          limit,
          ...(continuation ? { continuation } : {}),
        });
        seen.push(page.items.map((j) => j.id));
        continuation = page.continuation;
      } while (continuation);
      return seen;
    };
    expect(await pages({})).toEqual([['p-5', 'p-3'], ['p-1', 'p-4'], ['p-0', 'p-2'], ['p-6']]);
    // Filters narrow what is ordered; the last page carries no continuation.
    expect(await pages({ createdAfter: at(3) }, 10)).toEqual([['p-5', 'p-3', 'p-4', 'p-6']]);
    // A job reprioritised between pages is found where it now belongs, not twice.
    const first = await store.listJobs('alice', { sort: 'priority', limit: 3 });
    expect(first.items.map((j) => j.id)).toEqual(['p-5', 'p-3', 'p-1']);
    await store.setPriority('p-2', 7);
    await store.setPriority('p-6', 1);
    const rest = await store.listJobs('alice', {
      sort: 'priority',
      limit: 10,
      continuation: first.continuation!,
    });
    expect(rest.items.map((j) => [j.id, j.priority])).toEqual([
      ['p-6', 1],
      ['p-4', 0],
      ['p-0', 0],
    ]);
    expect(rest.continuation).toBeUndefined();
    // The other order's tokens are not this one's, and a forged one is refused naming the field.
    const newest = await store.listJobs('alice', { limit: 2 });
    for (const continuation of [newest.continuation!, 'e30', 'not a token']) {
      expect(
        await failure(() => store.listJobs('alice', { sort: 'priority', limit: 2, continuation })),
      ).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    }
  });

  it('should link resubmissions both ways, racing or repeated, and keep notes of tasks cancelled alone', async () => {
    const store = freshStore();
    await store.createJob(newJob({ id: 'orig' }));
    await store.createJob(newJob({ id: 'again', resubmittedFrom: 'orig' }));
    expect(await store.getJob('again')).toMatchObject({ resubmittedFrom: 'orig', resubmissions: [] });
    await Promise.all(['r1', 'r2', 'r3', 'r1'].map((id) => store.addResubmission('orig', id)));
    expect((await store.getJob('orig'))!.resubmissions.sort()).toEqual(['r1', 'r2', 'r3']);
    expect((await store.getJob('orig'))!.resubmittedFrom).toBeUndefined();
    expect(await failure(() => store.addResubmission('nobody', 'x'))).toMatchObject({
      code: 'JOB_NOT_FOUND',
    });

    await store.putTasks('orig', [
      { id: 'a', status: 'QUEUED' },
      { id: 'b', status: 'PENDING' },
    ]);
    expect(await store.getTask('orig', 'b')).toMatchObject({ id: 'b', status: 'PENDING', attempt: 1 });
    expect(await store.getTask('orig', 'zz')).toBeUndefined();
    await store.markTaskCancelled('orig', 'a', 'alice', new Date().toISOString());
    await store.markTaskCancelled('orig', 'a', 'alice', new Date().toISOString());
    await store.markTaskCancelled('orig', 'b', 'alice', new Date().toISOString());
    await store.unmarkTaskCancelled('orig', 'b');
    await store.unmarkTaskCancelled('orig', 'b');
    expect(await store.tasksCancelledAlone('orig')).toEqual(new Set(['a']));
    // The notes sit beside the tasks without being taken for any.
    expect((await store.listTasks('orig', { limit: 10 })).items.map((t) => t.id)).toEqual(['a', 'b']);
    expect(await store.taskCounts('orig')).toMatchObject({ QUEUED: 1, PENDING: 1 });
    await store.deleteJob('orig');
    expect(await store.tasksCancelledAlone('orig')).toEqual(new Set());
  });

  it('should add tasks to an open job once per key, racing or not, and refuse them once it is closed', async () => {
    const store = freshStore();
    await store.createJob(newJob({ id: 'open', open: true, taskCount: 150 }));
    await store.putTasks(
      'open',
      Array.from({ length: 150 }, (_, i) => ({ id: `t${i}`, status: 'QUEUED' as const })),
    );
    const request = (key: string, ids: string[]) => ({
      key,
      tasks: ids.map((id) => ({ id, command: 'true' })),
      // Shown the spec with the tasks added, read afresh after a lost race.
      check: (spec: JobSpec) =>
        ids.every((id) => spec.tasks!.some((t) => t.id === id))
          ? Promise.resolve()
          : Promise.reject(new Error('the tasks are not in the spec checked')),
    });
    // Two additions at once both land, one after the other; a repeat of one changes nothing.
    const [a, b] = await Promise.all([
      store.appendTasks('open', request('k1', ['a1', 'a2'])),
      store.appendTasks('open', request('k2', ['b1'])),
    ]);
    expect([a.set, b.set].sort()).toEqual([1, 2]);
    expect([a.first, b.first].sort()).toEqual([150, a.set === 1 ? 152 : 151].sort());
    const again = await store.appendTasks('open', request('k1', ['a1', 'a2']));
    expect(again).toMatchObject({ set: a.set, first: a.first, count: 2, replayed: true });
    expect((await store.getJob('open'))!.taskCount).toBe(153);
    expect(await store.taskSets('open')).toEqual(
      [a, b].sort((x, y) => x.set - y.set).map(({ first, count }) => ({ first, count })),
    );
    expect((await store.getSpec('open')).tasks!.map((t) => t.id).sort()).toEqual(['a', 'a1', 'a2', 'b1']);
    // Recorded after the first 150, in the order they were counted (the orchestration stages
    // additions one after another), into the part-filled second block: once, however often.
    const added = [
      { first: a.first, ids: ['a1', 'a2'] },
      { first: b.first, ids: ['b1'] },
    ].sort((x, y) => x.first - y.first);
    for (const { first, ids } of [...added, ...added]) {
      await store.putTasks(
        'open',
        ids.map((id) => ({ id, status: 'PENDING' as const })),
        first,
      );
    }
    // One out of order is refused rather than recorded at the wrong place.
    await expect(store.putTasks('open', [{ id: 'z', status: 'PENDING' }], 160)).rejects.toThrow(
      /fewer than 160/,
    );
    expect(await store.getTask('open', 'a2')).toMatchObject({ status: 'PENDING' });
    expect(await store.taskCounts('open')).toMatchObject({ QUEUED: 150, PENDING: 3 });
    await store.closeJob('open');
    expect((await store.getJob('open'))!.open).toBe(false);
    expect(await failure(() => store.appendTasks('open', request('k3', ['c1'])))).toMatchObject({
      code: 'JOB_NOT_OPEN',
    });
    // A refusal by the check leaves the job as it was.
    await store.createJob(newJob({ id: 'open2', open: true }));
    const refused = store.appendTasks('open2', {
      tasks: [{ id: 'x', command: 'x' }],
      check: () => Promise.reject(new Error('no')),
    });
    await expect(refused).rejects.toThrow('no');
    expect((await store.getJob('open2'))!.taskCount).toBe(1);
  });

  it('should hold 100,000 task records and page through them in order', async () => {
    const store = freshStore();
    const job = newJob({ taskCount: 100_000 });
    await store.createJob(job);
    const tasks = Array.from({ length: 100_000 }, (_, i) => ({
      id: String(i + 1),
      status: 'PENDING' as const,
    }));
    await store.putTasks(job.id, tasks);
    // Repeating it (an orchestration replaying the step) changes nothing.
    await store.putTasks(job.id, tasks.slice(0, 150));
    let count = 0;
    let last = 0;
    let continuation: string | undefined;
    do {
      const page = await store.listTasks(job.id, { limit: 1000, ...(continuation ? { continuation } : {}) });
      for (const task of page.items) {
        expect(Number(task.id)).toBe(last + 1);
        last = Number(task.id);
        count++;
      }
      continuation = page.continuation;
    } while (continuation);
    expect(count).toBe(100_000);
  });

  it('should apply task observations once, ignore late and repeated ones, and filter by status', async () => {
    const store = freshStore();
    const job = newJob({ taskCount: 250 });
    await store.createJob(job);
    await store.putTasks(
      job.id,
      Array.from({ length: 250 }, (_, i) => ({ id: `t${i}`, status: 'QUEUED' as const })),
    );
    const at = new Date().toISOString();
    const first = await store.updateTasks(job.id, [
      { id: 't1', status: 'RUNNING', attempt: 1, startedAt: at, at },
      { id: 't150', status: 'SUCCEEDED', attempt: 1, exitCode: 0, endedAt: at, at },
      {
        id: 't249',
        status: 'FAILED',
        attempt: 1,
        exitCode: 3,
        failure: { code: 'FailureExitCode', message: 'exit 3' },
        at,
      },
    ]);
    // Three blocks of 100 were touched, holding 250 tasks of which 3 changed and 2 ended.
    expect(first.unfinishedNearby).toBe(248);
    expect(first.changes.map((c) => [c.task.id, c.previousStatus, c.task.status])).toEqual(
      expect.arrayContaining([
        ['t1', 'QUEUED', 'RUNNING'],
        ['t150', 'QUEUED', 'SUCCEEDED'],
        ['t249', 'QUEUED', 'FAILED'],
      ]),
    );
    // The same signals again, and a late RUNNING for a task that has finished: nothing changes.
    const again = await store.updateTasks(job.id, [
      { id: 't1', status: 'RUNNING', attempt: 1, at },
      { id: 't150', status: 'RUNNING', attempt: 1, at },
    ]);
    expect(again.changes).toEqual([]);
    // A retry counts up the attempt and keeps the id.
    await store.updateTasks(job.id, [{ id: 't1', status: 'QUEUED', attempt: 2, at }]);
    const running = await store.listTasks(job.id, { status: 'FAILED', limit: 10 });
    expect(running.items).toEqual([
      expect.objectContaining({
        id: 't249',
        exitCode: 3,
        failure: { code: 'FailureExitCode', message: 'exit 3' },
      }),
    ]);
    const queued: string[] = [];
    let continuation: string | undefined;
    do {
      const page = await store.listTasks(job.id, {
        status: 'QUEUED',
        limit: 100,
        ...(continuation ? { continuation } : {}),
      });
      queued.push(...page.items.map((t) => t.id));
      continuation = page.continuation;
    } while (continuation);
    expect(queued).toHaveLength(248);
    expect(queued[0]).toBe('t0');
    expect(queued[1]).toBe('t1');
    // What the API will show is what its OpenAPI document says.
    for (const task of (await store.listTasks(job.id, { limit: 300 })).items)
      taskViewSchema.strict().parse(task);
    expect((await store.listTasks(job.id, { limit: 300 })).items.find((t) => t.id === 't1')).toMatchObject({
      attempt: 2,
    });
    expect(
      await failure(() => store.updateTasks(job.id, [{ id: 'ghost', status: 'RUNNING', attempt: 1, at }])),
    ).toMatchObject({
      code: 'TASK_NOT_FOUND',
    });
  });

  it('should let racing updates to tasks of one block all land', async () => {
    const store = freshStore();
    const job = newJob({ taskCount: 50 });
    await store.createJob(job);
    await store.putTasks(
      job.id,
      Array.from({ length: 50 }, (_, i) => ({ id: String(i + 1), status: 'QUEUED' as const })),
    );
    const at = new Date().toISOString();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.updateTasks(job.id, [{ id: String(i + 1), status: 'SUCCEEDED', attempt: 1, at }]),
      ),
    );
    const page = await store.listTasks(job.id, { status: 'SUCCEEDED', limit: 100 });
    expect(page.items).toHaveLength(50);
  });

  it('should forget a job entirely', async () => {
    const store = freshStore();
    const job = newJob();
    await store.createJob(job);
    await store.putTasks(job.id, [{ id: 'a', status: 'PENDING' }]);
    await store.deleteJob(job.id);
    expect(await store.getJob(job.id)).toBeUndefined();
    expect(await failure(() => store.history(job.id))).toMatchObject({ code: 'JOB_NOT_FOUND' });
    expect((await store.listTasks(job.id, { limit: 10 })).items).toEqual([]);
    await store.deleteJob(job.id);
  });

  it('should keep template versions immutable, names owned, and private versions private', async () => {
    const store = freshStore();
    const version = (v: string, over: Partial<Parameters<TableJobStore['putTemplate']>[0]> = {}) => ({
      name: 'classifier',
      version: v,
      owner: 'alice',
      public: false,
      body: { image: 'python:3.12', parameters: { t: '0.5' } },
      createdAt: new Date().toISOString(),
      ...over,
    });
    expect((await store.putTemplate(version('1.0.0'))).created).toBe(true);
    expect((await store.putTemplate(version('1.0.0'))).created).toBe(false);
    expect(
      await failure(() => store.putTemplate(version('1.0.0', { body: { image: 'other' } }))),
    ).toMatchObject({
      code: 'TEMPLATE_VERSION_EXISTS',
    });
    await store.putTemplate(version('1.1.0', { public: true }));
    expect(await failure(() => store.putTemplate(version('2.0.0', { owner: 'bob' })))).toMatchObject({
      code: 'TEMPLATE_NAME_TAKEN',
    });
    expect(await store.getTemplate('classifier', '1.0.0', 'alice')).toMatchObject({
      body: { image: 'python:3.12' },
    });
    expect(await store.getTemplate('classifier', '1.0.0', 'bob')).toBeUndefined();
    expect(await store.getTemplate('classifier', '1.1.0', 'bob')).toMatchObject({ public: true });
    expect((await store.listTemplateVersions('classifier', 'bob')).map((t) => t.version)).toEqual(['1.1.0']);
    expect(await store.listTemplates('alice')).toEqual([
      { name: 'classifier', owner: 'alice', versions: ['1.0.0', '1.1.0'] },
    ]);
    expect(await store.listTemplates('carol')).toEqual([
      { name: 'classifier', owner: 'alice', versions: ['1.1.0'] },
    ]);
  });

  it('should give every change of an owner’s jobs the next place in the owner’s log, racing or not', async () => {
    const store = freshStore();
    const owner = `o${hex(4)}`;
    const jobs = await Promise.all(Array.from({ length: 6 }, () => store.createJob(newJob({ owner }))));
    const other = await store.createJob(newJob({ owner: `p${hex(4)}` }));
    // Status changes of several jobs at once: each write moves the owner's counter, so they race.
    await Promise.all(
      jobs.map(({ job }) =>
        store.recordStatus(job.id, { to: 'PROCESSING_INPUTS', message: 'go', at: new Date().toISOString() }),
      ),
    );
    await store.recordStatus(jobs[0]!.job.id, {
      to: 'PROCESSING_INPUTS',
      message: 'again',
      at: new Date().toISOString(),
    });
    expect(await store.ownerHead(owner)).toBe(12);
    const changes = await store.ownerChanges(owner, { after: 0, limit: 100 });
    expect(changes.map((c) => c.position)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const { job } of jobs) {
      expect(changes.filter((c) => c.jobId === job.id).map((c) => c.sequence)).toEqual([1, 2]);
    }
    expect(await store.ownerChanges(owner, { after: 10, limit: 100 })).toHaveLength(2);
    expect(await store.ownerChanges(owner, { after: 0, limit: 5 })).toHaveLength(5);
    expect((await store.ownerChanges(other.job.owner, { after: 0, limit: 10 })).map((c) => c.jobId)).toEqual([
      other.job.id,
    ]);
    // The log's rows are not jobs: a listing does not show them.
    expect((await store.listJobs(owner, { limit: 100 })).items).toHaveLength(6);
  });

  it('should take 48 submissions of one owner at once, every one, each in its own place in the log', async () => {
    // An owner posting from many clients at once (the submit benchmark's 32) made every write race
    // for the owner's log counter; racers retrying in lockstep ran out of attempts and answered 500.
    const store = freshStore();
    const owner = `o${hex(4)}`;
    const results = await Promise.allSettled(
      Array.from({ length: 48 }, () => store.createJob(newJob({ owner }))),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const changes = await store.ownerChanges(owner, { after: 0, limit: 100 });
    expect(changes.map((c) => c.position)).toEqual(Array.from({ length: 48 }, (_, i) => i + 1));
    expect(new Set(changes.map((c) => c.jobId)).size).toBe(48);
  });

  it('should keep a job’s watch mark, only ever moving it later', async () => {
    const store = freshStore();
    const { job } = await store.createJob(newJob());
    expect(await store.watchedUntil(job.id)).toBeUndefined();
    await store.watch(job.id, '2026-12-02T10:03:00.000Z');
    await store.watch(job.id, '2026-12-02T10:01:00.000Z');
    expect(await store.watchedUntil(job.id)).toBe('2026-12-02T10:03:00.000Z');
    await store.watch(job.id, '2026-12-02T10:05:00.000Z');
    expect(await store.watchedUntil(job.id)).toBe('2026-12-02T10:05:00.000Z');
    // The mark sits beside the tasks without being one of them.
    await store.putTasks(job.id, [{ id: 'a', status: 'PENDING' }]);
    expect((await store.listTasks(job.id, { limit: 10 })).items.map((t) => t.id)).toEqual(['a']);
    expect(await store.taskCounts(job.id)).toMatchObject({ PENDING: 1 });
  });
});

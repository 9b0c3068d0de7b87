import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, inject, it } from 'vitest';
import { tablesOf } from '../support/storage.js';
import { TableJobStore } from '../../shared/adapters/tableJobStore.js';
import type { JobSpec } from '../../shared/domain/jobSpec.js';
import type { TaskStatus } from '../../shared/domain/lifecycle.js';
import { isAppError } from '../../shared/errors.js';
import type {
  NewJob,
  TaskCounts,
  TaskLogEntry,
  TaskRecord,
  TaskUpdate,
  TaskUpdateResult,
} from '../../shared/store/jobStore.js';

const hex = (n: number) => randomBytes(n).toString('hex');

/** A store on its own tables and container; `reopen` is another process on the same storage. */
function freshStore(): { store: TableJobStore; reopen: () => TableJobStore } {
  const connectionString = inject('azurite');
  const prefix = `t${hex(4)}`;
  const open = () =>
    new TableJobStore({
      tables: tablesOf(connectionString),
      tablePrefix: prefix,
      specs: BlobServiceClient.fromConnectionString(connectionString).getContainerClient(`${prefix}-specs`),
    });
  return { store: open(), reopen: open };
}

const spec: JobSpec = { name: 'demo', tasks: [{ id: 'a', command: 'echo a' }] };

function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    id: `job-${hex(6)}`,
    owner: 'alice',
    spec,
    name: 'demo',
    pool: 'local',
    tags: {},
    taskCount: 1,
    at: new Date().toISOString(),
    ...overrides,
  };
}

/** A new job with `count` tasks `t0`, `t1`, ... recorded as QUEUED. */
async function jobWithTasks(store: TableJobStore, count: number): Promise<string> {
  const job = newJob({ taskCount: count });
  await store.createJob(job);
  await store.putTasks(
    job.id,
    Array.from({ length: count }, (_, i) => ({ id: `t${i}`, status: 'QUEUED' as const })),
  );
  return job.id;
}

const at = () => new Date().toISOString();

const counts = (over: Partial<TaskCounts>): TaskCounts => ({
  PENDING: 0,
  QUEUED: 0,
  RUNNING: 0,
  SUCCEEDED: 0,
  FAILED: 0,
  SKIPPED: 0,
  CANCELLED: 0,
  ...over,
});

/** What the log should say of a change an update reported, numbered `sequence`. */
function expectedEntry(change: TaskUpdateResult['changes'][number], sequence: number): TaskLogEntry {
  const { task } = change;
  return {
    sequence,
    taskId: task.id,
    status: task.status,
    previousStatus: change.previousStatus,
    attempt: task.attempt,
    ...(task.exitCode !== undefined ? { exitCode: task.exitCode } : {}),
    ...(task.failure ? { failure: task.failure } : {}),
    at: task.updatedAt,
  };
}

/** The whole log, read in pages of `page`. */
async function readLog(store: TableJobStore, id: string, page = 1000): Promise<TaskLogEntry[]> {
  const out: TaskLogEntry[] = [];
  for (;;) {
    const entries = await store.taskLog(id, { after: out.at(-1)?.sequence ?? 0, limit: page });
    expect(entries.length).toBeLessThanOrEqual(page);
    out.push(...entries);
    if (entries.length < page) return out;
  }
}

/** Every task of a job, in pages. */
async function allTasks(store: TableJobStore, id: string, status?: TaskStatus): Promise<TaskRecord[]> {
  const out: TaskRecord[] = [];
  let continuation: string | undefined;
  do {
    const page = await store.listTasks(id, {
      limit: 1000,
      ...(status ? { status } : {}),
      ...(continuation ? { continuation } : {}),
    });
    out.push(...page.items);
    continuation = page.continuation;
  } while (continuation);
  return out;
}

const range = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

async function failure(action: () => Promise<unknown>): Promise<{ code?: string; status?: number }> {
  try {
    await action();
  } catch (error) {
    if (isAppError(error)) return { code: error.code, status: error.status };
    throw error;
  }
  throw new Error('expected a failure');
}

describe('task event log on Azure Tables', () => {
  it('should log exactly the changes a logged update stores, numbered on from 1, and nothing for a duplicate', async () => {
    const { store, reopen } = freshStore();
    const id = await jobWithTasks(store, 250);
    const started = at();
    // Tasks in all three blocks start; t5 is reported twice in the same call.
    const first = await store.updateTasks(
      id,
      ['t0', 't5', 't99', 't100', 't150', 't249', 't5'].map((task): TaskUpdate => ({
        id: task,
        status: 'RUNNING',
        attempt: 1,
        startedAt: started,
        at: started,
      })),
      { log: true },
    );
    expect(first.changes.map((c) => [c.task.id, c.previousStatus, c.task.status])).toEqual([
      ['t0', 'QUEUED', 'RUNNING'],
      ['t5', 'QUEUED', 'RUNNING'],
      ['t99', 'QUEUED', 'RUNNING'],
      ['t100', 'QUEUED', 'RUNNING'],
      ['t150', 'QUEUED', 'RUNNING'],
      ['t249', 'QUEUED', 'RUNNING'],
    ]);
    expect(first.logged).toEqual({ first: 1, last: 6 });
    expect(first.unfinishedNearby).toBe(250);

    const ended = at();
    const second = await store.updateTasks(
      id,
      [
        { id: 't0', status: 'SUCCEEDED', attempt: 1, exitCode: 0, endedAt: ended, at: ended },
        // A duplicate among news: ignored, not logged.
        { id: 't99', status: 'RUNNING', attempt: 1, at: ended },
        {
          id: 't100',
          status: 'FAILED',
          attempt: 1,
          exitCode: 3,
          failure: { code: 'FailureExitCode', message: 'the task exited with code 3' },
          endedAt: ended,
          at: ended,
        },
        // Straight from QUEUED to final: the missed RUNNING is skipped.
        {
          id: 't200',
          status: 'FAILED',
          attempt: 1,
          exitCode: 137,
          failure: { code: 'Killed', message: 'out of memory: "oom" \n killed' },
          at: ended,
        },
        // A retry: RUNNING -> QUEUED on a new attempt.
        { id: 't5', status: 'QUEUED', attempt: 2, at: ended },
        { id: 't249', status: 'SUCCEEDED', attempt: 1, exitCode: 0, at: ended },
      ],
      { log: true },
    );
    expect(second.changes.map((c) => [c.task.id, c.previousStatus, c.task.status, c.task.attempt])).toEqual([
      ['t0', 'RUNNING', 'SUCCEEDED', 1],
      ['t5', 'RUNNING', 'QUEUED', 2],
      ['t100', 'RUNNING', 'FAILED', 1],
      ['t200', 'QUEUED', 'FAILED', 1],
      ['t249', 'RUNNING', 'SUCCEEDED', 1],
    ]);
    expect(second.logged).toEqual({ first: 7, last: 11 });
    expect(second.unfinishedNearby).toBe(250 - 4);

    const expected = [
      ...first.changes.map((c, i) => expectedEntry(c, i + 1)),
      ...second.changes.map((c, i) => expectedEntry(c, 7 + i)),
    ];
    const log = await store.taskLog(id, { after: 0, limit: 1000 });
    expect(log).toEqual(expected);
    expect(log.map((e) => e.sequence)).toEqual(range(1, 11));
    // Spot checks of what the entries carry, independent of the changes reported.
    expect(log[0]).toEqual({
      sequence: 1,
      taskId: 't0',
      status: 'RUNNING',
      previousStatus: 'QUEUED',
      attempt: 1,
      at: started,
    });
    // Entries follow the blocks' order, then the updates' order within a block.
    expect(log.find((e) => e.taskId === 't200')).toEqual({
      sequence: 10,
      taskId: 't200',
      status: 'FAILED',
      previousStatus: 'QUEUED',
      attempt: 1,
      exitCode: 137,
      failure: { code: 'Killed', message: 'out of memory: "oom" \n killed' },
      at: ended,
    });
    expect(log.find((e) => e.taskId === 't5' && e.attempt === 2)).toEqual({
      sequence: 8,
      taskId: 't5',
      status: 'QUEUED',
      previousStatus: 'RUNNING',
      attempt: 2,
      at: ended,
    });

    // The same observations again, and late ones: nothing changes, nothing is logged.
    const again = await store.updateTasks(
      id,
      [
        { id: 't0', status: 'SUCCEEDED', attempt: 1, exitCode: 0, at: ended },
        { id: 't0', status: 'RUNNING', attempt: 1, at: ended },
        { id: 't5', status: 'RUNNING', attempt: 1, at: ended },
        { id: 't100', status: 'SUCCEEDED', attempt: 1, at: ended },
        { id: 't249', status: 'QUEUED', attempt: 1, at: ended },
      ],
      { log: true },
    );
    expect(again.changes).toEqual([]);
    expect(again).not.toHaveProperty('logged');
    expect(await store.taskLog(id, { after: 0, limit: 1000 })).toEqual(expected);

    // Another process continues the numbering from the stored counter and reads the same log.
    const other = reopen();
    expect(await other.taskLog(id, { after: 0, limit: 1000 })).toEqual(expected);
    const third = await other.updateTasks(id, [{ id: 't1', status: 'RUNNING', attempt: 1, at: ended }], {
      log: true,
    });
    expect(third.logged).toEqual({ first: 12, last: 12 });
    expect(await store.taskLog(id, { after: 11, limit: 10 })).toEqual([
      { sequence: 12, taskId: 't1', status: 'RUNNING', previousStatus: 'QUEUED', attempt: 1, at: ended },
    ]);

    // The log sits beside the tasks without disturbing them.
    expect(await store.taskCounts(id)).toEqual(counts({ QUEUED: 243, RUNNING: 3, SUCCEEDED: 2, FAILED: 2 }));
    const tasks = await allTasks(store, id);
    expect(tasks.map((t) => t.id)).toEqual(range(0, 249).map((i) => `t${i}`));
  });

  it('should log nothing for unlogged updates, and note the log position on later status changes', async () => {
    const { store } = freshStore();
    const id = await jobWithTasks(store, 10);
    const unlogged = await store.updateTasks(id, [{ id: 't0', status: 'RUNNING', attempt: 1, at: at() }]);
    expect(unlogged.changes).toHaveLength(1);
    expect(unlogged).not.toHaveProperty('logged');
    const notLogged = await store.updateTasks(id, [{ id: 't1', status: 'RUNNING', attempt: 1, at: at() }], {
      log: false,
    });
    expect(notLogged.changes).toHaveLength(1);
    expect(notLogged).not.toHaveProperty('logged');
    expect(await store.taskLog(id, { after: 0, limit: 100 })).toEqual([]);

    expect((await store.recordStatus(id, { to: 'PROCESSING_INPUTS', message: 'go', at: at() })).changed).toBe(
      true,
    );
    expect((await store.history(id)).at(-1)).not.toHaveProperty('taskSequence');

    const logged = await store.updateTasks(
      id,
      ['t0', 't2', 't3'].map((task) => ({ id: task, status: 'SUCCEEDED' as const, attempt: 1, at: at() })),
      { log: true },
    );
    expect(logged.logged).toEqual({ first: 1, last: 3 });
    await store.recordStatus(id, { to: 'STAGING_INPUTS', message: 'staging', at: at() });
    // A repeated report changes nothing and writes no entry.
    expect((await store.recordStatus(id, { to: 'STAGING_INPUTS', message: 'again', at: at() })).changed).toBe(
      false,
    );

    await store.updateTasks(id, [{ id: 't4', status: 'RUNNING', attempt: 1, at: at() }], { log: true });
    await store.updateTasks(id, [{ id: 't5', status: 'RUNNING', attempt: 1, at: at() }], { log: true });
    // An unlogged change in between moves no counter.
    await store.updateTasks(id, [{ id: 't6', status: 'RUNNING', attempt: 1, at: at() }]);
    await store.recordStatus(id, { to: 'STAGING_JOB', message: 'staged', at: at() });

    const log = await store.taskLog(id, { after: 0, limit: 100 });
    expect(log.map((e) => [e.sequence, e.taskId])).toEqual([
      [1, 't0'],
      [2, 't2'],
      [3, 't3'],
      [4, 't4'],
      [5, 't5'],
    ]);
    expect(log[0]).toMatchObject({ previousStatus: 'RUNNING', status: 'SUCCEEDED' });
    const history = await store.history(id);
    expect(history.map((h) => [h.sequence, h.status, h.taskSequence])).toEqual([
      [1, 'PENDING', undefined],
      [2, 'PROCESSING_INPUTS', undefined],
      [3, 'STAGING_INPUTS', 3],
      [4, 'STAGING_JOB', 5],
    ]);
    expect(history[0]).not.toHaveProperty('taskSequence');
    expect(history[1]).not.toHaveProperty('taskSequence');
  });

  it('should log a 2,500-task update in order, page the log from any position, and keep it out of task listings', async () => {
    const { store } = freshStore();
    const id = await jobWithTasks(store, 2500);
    const when = at();
    const result = await store.updateTasks(
      id,
      Array.from({ length: 2500 }, (_, i) => ({
        id: `t${i}`,
        status: 'RUNNING' as const,
        attempt: 1,
        startedAt: when,
        at: when,
      })),
      { log: true },
    );
    expect(result.changes).toHaveLength(2500);
    expect(result.logged).toEqual({ first: 1, last: 2500 });
    expect(result.unfinishedNearby).toBe(2500);

    const log = await store.taskLog(id, { after: 0, limit: 5000 });
    expect(log).toHaveLength(2500);
    log.forEach((entry, i) =>
      expect(entry).toEqual({
        sequence: i + 1,
        taskId: `t${i}`,
        status: 'RUNNING',
        previousStatus: 'QUEUED',
        attempt: 1,
        at: when,
      }),
    );
    // From the middle of a row of entries, across rows, from a row's first and last entry.
    const seqs = async (after: number, limit: number) =>
      (await store.taskLog(id, { after, limit })).map((e) => e.sequence);
    expect(await seqs(150, 30)).toEqual(range(151, 180));
    expect(await seqs(150, 100)).toEqual(range(151, 250));
    expect(await seqs(100, 1)).toEqual([101]);
    expect(await seqs(99, 2)).toEqual([100, 101]);
    expect(await seqs(1999, 3)).toEqual([2000, 2001, 2002]);
    expect(await seqs(2450, 1000)).toEqual(range(2451, 2500));
    expect(await seqs(2499, 10)).toEqual([2500]);
    expect(await seqs(2500, 10)).toEqual([]);
    expect(await seqs(10_000, 10)).toEqual([]);
    // Read in odd-sized pages, the log comes out whole, once.
    expect((await readLog(store, id, 37)).map((e) => e.sequence)).toEqual(range(1, 2500));

    expect(await store.taskCounts(id)).toEqual(counts({ RUNNING: 2500 }));
    const tasks = await allTasks(store, id);
    expect(tasks.map((t) => t.id)).toEqual(range(0, 2499).map((i) => `t${i}`));
    expect(tasks.every((t) => t.status === 'RUNNING' && t.startedAt === when)).toBe(true);
    expect(await allTasks(store, id, 'RUNNING')).toHaveLength(2500);
    const one = await store.listTasks(id, { limit: 3000 });
    expect(one.items).toHaveLength(2500);
    expect(one.continuation).toBeUndefined();
    // A page that ends exactly at the last task leads on to no page of log rows.
    const exact = await store.listTasks(id, { limit: 2500 });
    expect(exact.items).toHaveLength(2500);
    expect(exact.continuation).toBeUndefined();
    const paged = await store.listTasks(id, { limit: 2400 });
    const rest = await store.listTasks(id, { limit: 2400, continuation: paged.continuation! });
    expect(rest.items.map((t) => t.id)).toEqual(range(2400, 2499).map((i) => `t${i}`));
    expect(rest.continuation).toBeUndefined();
    expect(await allTasks(store, id, 'QUEUED')).toEqual([]);
  });

  it('should log 2,000 failures with the longest ids and messages in one transaction group', async () => {
    const { store } = freshStore();
    const job = newJob({ taskCount: 2000 });
    await store.createJob(job);
    // Task ids are at most 64 characters; failure messages are kept to 500.
    const ids = range(0, 1999).map((i) => `${String(i).padStart(6, '0')}-${'x'.repeat(57)}`);
    await store.putTasks(
      job.id,
      ids.map((task) => ({ id: task, status: 'RUNNING' as const })),
    );
    const message = 'Error: "input not found" at C:\\data\\in.csv\n    at main (run.py:12)\n'
      .repeat(10)
      .slice(0, 500);
    expect(message).toHaveLength(500);
    const when = at();
    const result = await store.updateTasks(
      job.id,
      ids.map((task) => ({
        id: task,
        status: 'FAILED' as const,
        attempt: 1,
        exitCode: 1,
        failure: { code: 'FailureExitCode', message },
        startedAt: when,
        endedAt: when,
        at: when,
      })),
      { log: true },
    );
    expect(result.logged).toEqual({ first: 1, last: 2000 });
    const log = await store.taskLog(job.id, { after: 1990, limit: 100 });
    expect(log.map((e) => e.taskId)).toEqual(ids.slice(1990));
    expect(log[0]).toMatchObject({
      status: 'FAILED',
      exitCode: 1,
      failure: { code: 'FailureExitCode', message },
    });
    expect(await store.taskCounts(job.id)).toEqual(counts({ FAILED: 2000 }));
  });

  it('should split a logged update that would not fit one transaction: multi-byte messages, many observations', async () => {
    const { store } = freshStore();
    const job = newJob({ taskCount: 3000 });
    await store.createJob(job);
    const ids = range(0, 2999).map((i) => `${String(i).padStart(6, '0')}-${'x'.repeat(57)}`);
    await store.putTasks(
      job.id,
      ids.map((task) => ({ id: task, status: 'RUNNING' as const })),
    );
    // Three bytes a character, and every task's text both in its block and in its log entry:
    // 20 blocks of it in one transaction would be over 4 MB.
    const message = '漢'.repeat(500);
    const when = at();
    const failed = await store.updateTasks(
      job.id,
      ids.map((task) => ({
        id: task,
        status: 'FAILED' as const,
        attempt: 1,
        exitCode: 1,
        failure: { code: 'FailureExitCode', message },
        at: when,
      })),
      { log: true },
    );
    expect(failed.logged).toEqual({ first: 1, last: 3000 });
    expect((await store.taskLog(job.id, { after: 2999, limit: 5 }))[0]).toMatchObject({
      sequence: 3000,
      taskId: ids[2999],
      failure: { message },
    });
    expect(await store.taskCounts(job.id)).toEqual(counts({ FAILED: 3000 }));

    // Four observations a task, 8,000 entries for 20 blocks: more rows than a transaction may hold.
    const other = newJob({ taskCount: 2000 });
    await store.createJob(other);
    const tasks = ids.slice(0, 2000);
    await store.putTasks(
      other.id,
      tasks.map((task) => ({ id: task, status: 'QUEUED' as const })),
    );
    const steps = [
      ['RUNNING', 1],
      ['QUEUED', 2],
      ['RUNNING', 2],
      ['SUCCEEDED', 2],
    ] as const;
    const result = await store.updateTasks(
      other.id,
      tasks.flatMap((task) => steps.map(([status, attempt]) => ({ id: task, status, attempt, at: when }))),
      { log: true },
    );
    expect(result.changes).toHaveLength(8000);
    expect(result.logged).toEqual({ first: 1, last: 8000 });
    const log = await store.taskLog(other.id, { after: 0, limit: 10_000 });
    expect(log.map((e) => e.sequence)).toEqual(range(1, 8000));
    // Each task's own changes stay in the order they were observed.
    const first = log.filter((e) => e.taskId === tasks[0]).map((e) => [e.status, e.attempt]);
    expect(first).toEqual(steps.map(([status, attempt]) => [status, attempt]));
    expect(await store.taskCounts(other.id)).toEqual(counts({ SUCCEEDED: 2000 }));
  });

  it('should find every entry from every position when rows of entries do not start on round numbers', async () => {
    const { store } = freshStore();
    const id = await jobWithTasks(store, 300);
    const running = (from: number, to: number) =>
      range(from, to).map((i) => ({ id: `t${i}`, status: 'RUNNING' as const, attempt: 1, at: at() }));
    // Rows start at 1, 4, 104, 204 and 254.
    expect((await store.updateTasks(id, running(0, 2), { log: true })).logged).toEqual({ first: 1, last: 3 });
    expect((await store.updateTasks(id, running(3, 252), { log: true })).logged).toEqual({
      first: 4,
      last: 253,
    });
    expect((await store.updateTasks(id, running(253, 299), { log: true })).logged).toEqual({
      first: 254,
      last: 300,
    });
    const log = await store.taskLog(id, { after: 0, limit: 1000 });
    expect(log.map((e) => [e.sequence, e.taskId])).toEqual(range(1, 300).map((s) => [s, `t${s - 1}`]));
    const positions = await Promise.all(
      range(0, 301).map(async (after) =>
        (await store.taskLog(id, { after, limit: 5 })).map((e) => e.sequence),
      ),
    );
    positions.forEach((got, after) => expect(got).toEqual(range(after + 1, Math.min(after + 5, 300))));
    expect((await readLog(store, id, 100)).map((e) => e.sequence)).toEqual(range(1, 300));
  });

  it('should number every change once when logged updates race on the same and different blocks, in one process and from several', async () => {
    const { store, reopen } = freshStore();
    const id = await jobWithTasks(store, 300);
    // Half the writers share this store, queued one after another in this process; the other half
    // stand for other instances of the app, kept apart only by the counter's etag.
    const writers = [store, reopen(), store, reopen(), store, reopen(), store, reopen()];
    const ids = range(0, 299).map((i) => `t${i}`);
    const start = at();
    // Eight writers at once, each reporting tasks in all three blocks, each task reported by two of
    // them: the counter row is created in a race, then moved in one.
    const first = await Promise.all(
      range(0, 7).map((k) =>
        writers[k]!.updateTasks(
          id,
          ids
            .filter((_, i) => i % 8 === k || i % 8 === (k + 1) % 8)
            .map((task) => ({ id: task, status: 'RUNNING' as const, attempt: 1, at: start })),
          { log: true },
        ),
      ),
    );
    // Then eight writers on one block each or several, ending the tasks.
    const end = at();
    const slices: Array<[number, number]> = [
      [0, 49],
      [50, 99],
      [100, 149],
      [150, 199],
      [200, 239],
      [240, 269],
      [270, 289],
      [290, 299],
    ];
    const second = await Promise.all(
      slices.map(([from, to], k) =>
        writers[k]!.updateTasks(
          id,
          range(from, to).map((i): TaskUpdate =>
            k % 2 === 0
              ? { id: `t${i}`, status: 'SUCCEEDED', attempt: 1, exitCode: 0, at: end }
              : {
                  id: `t${i}`,
                  status: 'FAILED',
                  attempt: 1,
                  exitCode: 1,
                  failure: { code: 'FailureExitCode', message: `task t${i} failed` },
                  at: end,
                },
          ),
          { log: true },
        ),
      ),
    );
    const results = [...first, ...second];
    const changes = results.flatMap((r) => r.changes);
    expect(first.flatMap((r) => r.changes)).toHaveLength(300);
    expect(second.flatMap((r) => r.changes)).toHaveLength(300);

    const log = await store.taskLog(id, { after: 0, limit: 1000 });
    expect(log.map((e) => e.sequence)).toEqual(range(1, 600));
    // Each call's changes got a run of numbers of its own (one transaction each), and the log holds
    // exactly what each call reported.
    const bySequence = new Map(log.map((e) => [e.sequence, e]));
    const claimed = new Set<number>();
    for (const result of results) {
      if (result.changes.length === 0) {
        expect(result).not.toHaveProperty('logged');
        continue;
      }
      const { first: from, last: to } = result.logged!;
      expect(to - from + 1).toBe(result.changes.length);
      result.changes.forEach((change, i) => {
        expect(claimed.has(from + i)).toBe(false);
        claimed.add(from + i);
        expect(bySequence.get(from + i)).toEqual(expectedEntry(change, from + i));
      });
    }
    expect(claimed.size).toBe(600);
    expect(changes).toHaveLength(600);
    // Each task: QUEUED -> RUNNING, then RUNNING -> final, in that order.
    for (const task of ids) {
      const entries = log.filter((e) => e.taskId === task);
      expect(entries.map((e) => [e.previousStatus, e.status])).toEqual([
        ['QUEUED', 'RUNNING'],
        ['RUNNING', expect.stringMatching(/^(SUCCEEDED|FAILED)$/) as unknown],
      ]);
    }
    const stored = new Map((await allTasks(store, id)).map((t) => [t.id, t]));
    expect(stored.size).toBe(300);
    for (const entry of log.filter((e) => e.previousStatus === 'RUNNING')) {
      expect(stored.get(entry.taskId)).toMatchObject({
        status: entry.status,
        attempt: 1,
        exitCode: entry.exitCode,
      });
    }
    const failed = slices.reduce((sum, [from, to], k) => sum + (k % 2 === 1 ? to - from + 1 : 0), 0);
    expect(failed).toBe(140);
    expect(await store.taskCounts(id)).toEqual(counts({ SUCCEEDED: 300 - failed, FAILED: failed }));
  });

  it('should forget the log with the job, and start a job made again under its id from 1', async () => {
    const { store, reopen } = freshStore();
    const id = await jobWithTasks(store, 150);
    await store.updateTasks(
      id,
      range(0, 149).map((i) => ({ id: `t${i}`, status: 'RUNNING' as const, attempt: 1, at: at() })),
      { log: true },
    );
    await store.recordStatus(id, { to: 'PROCESSING_INPUTS', message: 'go', at: at() });
    expect((await store.history(id)).at(-1)?.taskSequence).toBe(150);
    expect(await store.taskLog(id, { after: 0, limit: 1000 })).toHaveLength(150);

    await store.deleteJob(id);
    expect(await store.taskLog(id, { after: 0, limit: 1000 })).toEqual([]);
    expect(await store.taskLog(id, { after: 120, limit: 10 })).toEqual([]);
    expect(await reopen().taskLog(id, { after: 0, limit: 1000 })).toEqual([]);
    expect(await store.taskCounts(id)).toBeUndefined();
    expect(
      await failure(() =>
        store.updateTasks(id, [{ id: 't0', status: 'SUCCEEDED', attempt: 1, at: at() }], { log: true }),
      ),
    ).toMatchObject({ code: 'TASKS_NOT_FOUND' });
    // Deleting again is harmless.
    await store.deleteJob(id);

    // A job made again under the same id has a log of its own, numbered from 1.
    await store.createJob(newJob({ id, taskCount: 5 }));
    await store.putTasks(
      id,
      range(0, 4).map((i) => ({ id: `t${i}`, status: 'QUEUED' as const })),
    );
    expect(await store.taskLog(id, { after: 0, limit: 1000 })).toEqual([]);
    await store.recordStatus(id, { to: 'PROCESSING_INPUTS', message: 'go', at: at() });
    expect((await store.history(id)).at(-1)).not.toHaveProperty('taskSequence');
    const again = await store.updateTasks(id, [{ id: 't0', status: 'RUNNING', attempt: 1, at: at() }], {
      log: true,
    });
    expect(again.logged).toEqual({ first: 1, last: 1 });
    expect((await store.taskLog(id, { after: 0, limit: 1000 })).map((e) => [e.sequence, e.taskId])).toEqual([
      [1, 't0'],
    ]);
  });
});

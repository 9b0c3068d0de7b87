import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ENDED, jobClient, type TaskView } from '../support/jobClient.js';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';
import { jobViewSchema, problemSchema, taskViewSchema } from '../../shared/http/openapi.js';
import { waitFor } from '../support/waitFor.js';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { LOCAL_BATCH_ACCOUNT, LOCAL_BATCH_KEY } from '../../infra/local/batch/localBatch.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef';
const OPS = 'ops-token-0123456789abcdef';

// The controls a user has over a job while it runs; each test drives its own job, concurrently.
describe.concurrent('job control on the embedded runtime', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: {
      CLOUDJOBS_API_TOKENS: `alice=${ALICE},bob=${BOB},ops:admin=${OPS}`,
      CLOUDJOBS_TABLE_PREFIX: uniqueName('c'),
      CLOUDJOBS_BLOCKED_RETRY_INITIAL_SECONDS: '1',
      CLOUDJOBS_BLOCKED_RETRY_MAX_SECONDS: '1',
    },
    args: ['--batch-slots', '8'],
  });
  const alice = jobClient(runtime, ALICE);

  const cancelTask = async (id: string, taskId: string, token = ALICE) => {
    const answer = await alice.json<unknown>('POST', `/jobs/${id}/tasks/${taskId}/cancel`, undefined, token);
    return {
      status: answer.status,
      retryAfter: answer.headers.get('retry-after'),
      task: answer.status === 200 ? taskViewSchema.strict().parse(answer.body) : undefined,
      problem: answer.status === 200 ? undefined : problemSchema.parse(answer.body),
    };
  };
  // A task has started once its log says so (a running task's log is read from its node).
  const started = (id: string, taskId: string) =>
    waitFor(
      async () => {
        const log = await alice.call('GET', `/jobs/${id}/tasks/${taskId}/logs/stdout`);
        return log.status === 200 && log.text === 'started\n' ? true : undefined;
      },
      { timeoutMs: 60_000, what: `task ${taskId} to start` },
    );
  /** A POST as a client sends it, with an Idempotency-Key when given; the answer parsed. */
  const post = async <T>(path: string, body: unknown, options: { token?: string; key?: string } = {}) => {
    const response = await runtime.fetch(`/api${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${options.token ?? ALICE}`,
        'content-type': 'application/json',
        ...(options.key ? { 'idempotency-key': options.key } : {}),
      },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      headers: response.headers,
      body: JSON.parse(await response.text()) as T,
    };
  };
  const states = async (id: string) =>
    Object.fromEntries(Object.values(await alice.tasks(id)).map((t: TaskView) => [t.id, t.status]));

  it('should cancel one running task and one waiting task; the job carries on and fails TASK_CANCELLED', async () => {
    const gate = path.join(tmpdir(), uniqueName('gate'));
    const id = await alice.submit({
      name: uniqueName('cancel-one'),
      tasks: [
        { id: 'long', command: 'echo started; sleep 120' },
        { id: 'after', command: 'echo never', dependsOn: ['long'] },
        { id: 'waiting', command: 'echo never', dependsOn: ['long'] },
        // Runs until the test says the cancels are done (the local pool shares this machine).
        { id: 'other', command: `while [ ! -e ${gate} ]; do sleep 0.1; done; echo other done` },
      ],
    });
    await started(id, 'long');
    // A waiting task never starts.
    const waiting = await cancelTask(id, 'waiting');
    expect(waiting.status, JSON.stringify(waiting.problem)).toBe(200);
    expect(waiting.task).toMatchObject({ id: 'waiting', status: 'CANCELLED' });
    const long = await cancelTask(id, 'long');
    expect(long.status, JSON.stringify(long.problem)).toBe(200);
    expect(long.task).toMatchObject({ id: 'long', status: 'CANCELLED' });
    // The job did not stop: the independent task still runs, and then runs to its end.
    expect((await alice.job(id)).status).toBe('RUNNING');
    expect(['QUEUED', 'RUNNING']).toContain((await states(id)).other);
    await writeFile(gate, '');

    // Cancelling what has ended, or asking for a task that is not there, says so.
    const again = await cancelTask(id, 'long');
    expect([again.status, again.problem?.code]).toEqual([409, 'TASK_ENDED']);
    const missing = await cancelTask(id, 'nope');
    expect([missing.status, missing.problem?.code]).toEqual([404, 'TASK_NOT_FOUND']);
    const malformed = await cancelTask(id, 'a%20b');
    expect(malformed.status).toBe(400);
    expect(malformed.problem?.errors?.map((e) => e.path)).toEqual(['taskId']);
    // Someone else's job is not there at all.
    const theirs = await cancelTask(id, 'other', BOB);
    expect([theirs.status, theirs.problem?.code]).toEqual([404, 'JOB_NOT_FOUND']);

    const done = await alice.until(id, ENDED);
    expect(done).toMatchObject({ status: 'FAILED', condition: 'TASK_CANCELLED' });
    expect(done.message).toBe('1 skipped, 2 cancelled of 4 task(s)');
    expect(await states(id)).toEqual({
      long: 'CANCELLED',
      after: 'SKIPPED',
      waiting: 'CANCELLED',
      other: 'SUCCEEDED',
    });
    // The cancelled task's log ends where it was stopped.
    const log = await alice.call('GET', `/jobs/${id}/tasks/long/logs/stdout`);
    expect(log.text).toBe('started\n');
    expect((await alice.call('GET', `/jobs/${id}/tasks/other/logs/stdout`)).text).toBe('other done\n');
    const ended = await cancelTask(id, 'other');
    expect([ended.status, ended.problem?.code]).toEqual([409, 'JOB_ENDED']);
    await rm(gate, { force: true });
  });

  it('should finish a job that allows cancelled tasks, running the dependents a cancelled task lets run', async () => {
    const id = await alice.submit({
      name: uniqueName('cancel-allowed'),
      allowCancelledTasks: true,
      tasks: [
        { id: 'long', command: 'echo started; sleep 120', runDependentsOnFailure: true },
        { id: 'cleanup', command: 'echo cleaned up', dependsOn: ['long'] },
      ],
    });
    await started(id, 'long');
    expect((await cancelTask(id, 'long')).task?.status).toBe('CANCELLED');
    const done = await alice.until(id, ENDED);
    expect(done).toMatchObject({
      status: 'FINISHED',
      condition: 'NORMAL_COMPLETION',
      message: '1 task(s) succeeded, 1 cancelled',
    });
    expect(await states(id)).toEqual({ long: 'CANCELLED', cleanup: 'SUCCEEDED' });
    expect((await alice.call('GET', `/jobs/${id}/tasks/cleanup/logs/stdout`)).text).toBe('cleaned up\n');
  });

  it('should refuse to cancel a task before its job has put it on Batch, and say when to try again', async () => {
    // A missing pool holds the job BLOCKED before it submits anything.
    const id = await alice.submit({
      name: uniqueName('cancel-early'),
      pool: uniqueName('nopool').replace(/[^A-Za-z0-9_-]/g, ''),
      tasks: [{ id: 'only', command: 'true' }],
    });
    await alice.until(id, ['BLOCKED']);
    const early = await cancelTask(id, 'only');
    expect([early.status, early.problem?.code]).toEqual([409, 'TASK_NOT_SUBMITTED']);
    expect(Number(early.retryAfter)).toBeGreaterThan(0);
    await alice.call('POST', `/jobs/${id}/cancel`);
    await alice.until(id, ENDED);
  });

  it('should resubmit the tasks that did not succeed, twice over, reading done tasks’ outputs where they were written', async () => {
    const resubmit = (id: string, body: unknown, token = ALICE, key?: string) =>
      post<never>(`/jobs/${id}/resubmit`, body, { token, ...(key ? { key } : {}) });
    const first = await alice.submit({
      name: uniqueName('resubmit'),
      parameters: { mode: 'bad' },
      tasks: [
        { id: 'prep', command: 'echo made > model.txt; echo prep ran', outputs: ['model.txt'] },
        {
          id: 'work',
          command: 'cat model.txt; test "${mode}" = ok',
          inputs: [{ fromTask: 'prep', path: 'model.txt' }],
        },
        { id: 'report', command: 'echo reported', dependsOn: ['work'] },
      ],
    });
    // Not while it runs.
    const early = await resubmit(first, { tasks: 'failed' });
    expect([early.status, problemSchema.parse(early.body).code]).toEqual([409, 'JOB_NOT_FINAL']);
    expect(await alice.until(first, ENDED)).toMatchObject({ status: 'FAILED', condition: 'TASK_FAILED' });

    // Again with the same parameters: prep is done, so only work and report run, and work fails again.
    const second = await resubmit(first, { tasks: 'failed' });
    expect(second.status).toBe(202);
    const secondJob = jobViewSchema.strict().parse(second.body);
    expect(secondJob).toMatchObject({ resubmittedFrom: first, taskCount: 2, resubmissions: [] });
    expect(await alice.until(secondJob.id, ENDED)).toMatchObject({
      status: 'FAILED',
      condition: 'TASK_FAILED',
    });
    expect(Object.keys(await alice.tasks(secondJob.id)).sort()).toEqual(['report', 'work']);

    // Then with the parameter fixed, from the second: prep, done two jobs back, still counts.
    const key = uniqueName('key');
    const third = await resubmit(secondJob.id, { tasks: 'failed', parameters: { mode: 'ok' } }, ALICE, key);
    expect(third.status).toBe(202);
    const thirdJob = jobViewSchema.strict().parse(third.body);
    const replayed = await resubmit(
      secondJob.id,
      { tasks: 'failed', parameters: { mode: 'ok' } },
      ALICE,
      key,
    );
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect((replayed.body as { id: string }).id).toBe(thirdJob.id);
    const done = await alice.until(thirdJob.id, ENDED);
    expect(done).toMatchObject({ status: 'FINISHED', resubmittedFrom: secondJob.id, taskCount: 2 });
    expect(done.spec).toMatchObject({ resumeFrom: secondJob.id, parameters: { mode: 'ok' } });
    expect(await states(thirdJob.id)).toEqual({ work: 'SUCCEEDED', report: 'SUCCEEDED' });
    // work read the file prep wrote in the first job.
    expect((await alice.call('GET', `/jobs/${thirdJob.id}/tasks/work/logs/stdout`)).text).toBe('made\n');
    expect((await alice.job(first)).resubmissions).toEqual([secondJob.id]);
    expect((await alice.job(secondJob.id)).resubmissions).toEqual([thirdJob.id]);

    // Nothing failed in the third: "failed" has nothing to run, "all" runs everything.
    const nothing = await resubmit(thirdJob.id, { tasks: 'failed' });
    expect(nothing.status).toBe(400);
    expect(problemSchema.parse(nothing.body).errors?.map((e) => e.path)).toEqual(['tasks']);
    const all = await resubmit(first, { tasks: 'all', parameters: { mode: 'ok' }, retries: 1 });
    const allJob = jobViewSchema.strict().parse(all.body);
    expect(allJob.taskCount).toBe(3);
    expect(await alice.until(allJob.id, ENDED)).toMatchObject({ status: 'FINISHED' });
    expect((await alice.job(first)).resubmissions).toEqual([secondJob.id, allJob.id]);

    // Bad requests name the field; someone else's job is not there.
    const bad = await resubmit(first, { tasks: 'some', owner: 'bob' });
    expect(bad.status).toBe(400);
    expect(
      problemSchema
        .parse(bad.body)
        .errors?.map((e) => e.path)
        .sort(),
    ).toEqual(['owner', 'tasks']);
    expect((await resubmit(first, { tasks: 'all' }, BOB)).status).toBe(404);
    // A spec naming someone else's job (or a running one) to resume from is refused at the field.
    const bobs = await alice.json<unknown>(
      'POST',
      '/jobs',
      { name: 'x', resumeFrom: first, tasks: [{ id: 'a', command: 'true' }] },
      BOB,
    );
    expect(bobs.status).toBe(400);
    expect(problemSchema.parse(bobs.body).errors).toEqual([
      { path: 'resumeFrom', message: `there is no job ${first} of yours` },
    ]);
    expect((await alice.job(first)).resubmissions).toEqual([secondJob.id, allJob.id]);
  });

  it('should fail a job BLOCKED past its limit, naming what it waited for', async () => {
    const pool = uniqueName('missing').replace(/[^A-Za-z0-9_-]/g, '');
    const id = await alice.submit({
      name: uniqueName('blocked'),
      pool,
      maxBlockedMinutes: 0.05,
      tasks: [{ id: 'a', command: 'true' }],
    });
    const done = await alice.until(id, ENDED);
    expect(done).toMatchObject({ status: 'FAILED', condition: 'BLOCKED_TOO_LONG' });
    expect(done.message).toMatch(
      new RegExp(`^blocked for 0\\.05 minute\\(s\\), waiting for BATCH_POOL_NOT_FOUND: .*${pool}`),
    );
    const history = (await alice.history(id)).map((h) => h.status);
    expect(history.slice(-2)).toEqual(['BLOCKED', 'FAILED']);
  });

  it('should fail a job none of whose tasks starts within its limit, saying what its pool has', async () => {
    const admin = jobClient(runtime, OPS);
    const pool = uniqueName('empty').replace(/[^A-Za-z0-9_-]/g, '');
    const made = await admin.call('POST', '/pools', {
      id: pool,
      vmSize: 'standard_d2s_v3',
      dedicatedNodes: 0,
    });
    expect(made.status, made.text).toBe(201);
    const id = await alice.submit({
      name: uniqueName('queued'),
      pool,
      maxQueuedMinutes: 0.05,
      tasks: [{ id: 'a', command: 'true' }],
    });
    const done = await alice.until(id, ENDED);
    expect(done).toMatchObject({ status: 'FAILED', condition: 'QUEUED_TOO_LONG' });
    expect(done.message).toBe(
      `no task started within 0.05 minute(s) of being queued: pool ${pool} has 0 of 0 dedicated and 0 of 0 Spot node(s)`,
    );
    expect((await alice.tasks(id)).a!.status).toBe('CANCELLED');
    await admin.call('DELETE', `/pools/${pool}`);
  });

  it('should run tasks on the slots their presets ask for, and refuse what the pool cannot give', async () => {
    const presets = await alice.json<{ items: Array<{ name: string; pool: string; slots: number }> }>(
      'GET',
      '/presets',
    );
    expect(presets.body.items.map((p) => [p.name, p.pool, p.slots])).toEqual([
      ['small', 'local', 1],
      ['medium', 'local', 4],
      ['large', 'local', 8],
    ]);
    const id = await alice.submit({
      name: uniqueName('presets'),
      preset: 'medium',
      tasks: [
        { id: 'default', command: 'true' },
        { id: 'whole', command: 'true', preset: 'large' },
        { id: 'two', command: 'true', slots: 2 },
      ],
    });
    expect(await alice.until(id, ENDED)).toMatchObject({ status: 'FINISHED', pool: 'local' });
    const batch = new BatchServiceClient(
      new BatchSharedKeyCredentials(LOCAL_BATCH_ACCOUNT, LOCAL_BATCH_KEY),
      runtime.info.batchUrl!,
    );
    const slots = Object.fromEntries(
      await Promise.all(
        ['default', 'whole', 'two'].map(async (t): Promise<[string, number]> => [
          t,
          (await batch.task.get(id, t)).requiredSlots ?? 1,
        ]),
      ),
    );
    expect(slots).toEqual({ default: 4, whole: 8, two: 2 });
    // More slots than a node has would never run: refused at submission, naming the task.
    const tooWide = await alice.json<{ errors: unknown[] }>('POST', '/jobs', {
      name: 'wide',
      tasks: [{ id: 'w', command: 'true', slots: 9 }],
    });
    expect(tooWide.status).toBe(400);
    expect(tooWide.body.errors).toEqual([
      { path: 'tasks', message: 'task w takes 9 slots, and a node of pool local has 8' },
    ]);
    const unknown = await alice.json<{ errors: Array<{ path: string }> }>('POST', '/jobs', {
      name: 'unknown',
      preset: 'huge',
      tasks: [{ id: 'a', command: 'true' }],
    });
    expect([unknown.status, unknown.body.errors.map((e) => e.path)]).toEqual([400, ['preset']]);
  });

  it('should take tasks into an open job while it runs, run them, and end once completed', async () => {
    const add = async (id: string, body: unknown, key?: string, token = ALICE) => {
      const answer = await post<{
        added?: number;
        job?: { taskCount: number; open: boolean };
        code?: string;
        errors?: Array<{ path: string; message: string }>;
      }>(`/jobs/${id}/tasks`, body, { token, ...(key ? { key } : {}) });
      return { ...answer, replayed: answer.headers.get('idempotent-replayed') };
    };
    const id = await alice.submit({
      name: uniqueName('open'),
      completeWhenTasksFinish: false,
      tasks: [{ id: 'first', command: 'echo from first > f.txt', outputs: ['f.txt'] }],
    });
    await alice.until(id, ['QUEUED', 'RUNNING']);
    const more = {
      tasks: [
        { id: 'second', command: 'cat f.txt', inputs: [{ fromTask: 'first', path: 'f.txt' }] },
        { id: 'third', command: 'echo third', dependsOn: ['second'] },
      ],
    };
    const key = uniqueName('add');
    const added = await add(id, more, key);
    expect(added.status, JSON.stringify(added.body)).toBe(202);
    expect(added.body).toMatchObject({ added: 2, job: { taskCount: 3, open: true } });
    // The same request again (a retry after a lost answer) adds nothing more.
    const again = await add(id, more, key);
    expect([again.status, again.replayed, again.body.job?.taskCount]).toEqual([202, 'true', 3]);
    // Ids are unique across the job, dependencies name tasks it has; each at the request's path.
    const twice = await add(id, { tasks: [{ id: 'second', command: 'true' }] });
    expect(twice.status).toBe(400);
    expect(twice.body.errors?.map((e) => e.path)).toEqual(['tasks[0].id']);
    const unknown = await add(id, { tasks: [{ id: 'fourth', command: 'true', dependsOn: ['nope'] }] });
    expect(unknown.body.errors?.map((e) => e.path)).toEqual(['tasks[0].dependsOn[0]']);
    expect((await add(id, more, undefined, BOB)).status).toBe(404);

    await waitFor(
      async () => {
        const tasks = await states(id);
        return tasks.second === 'SUCCEEDED' && tasks.third === 'SUCCEEDED' ? tasks : undefined;
      },
      { timeoutMs: 60_000, what: 'the added tasks to run' },
    );
    expect((await alice.call('GET', `/jobs/${id}/tasks/second/logs/stdout`)).text).toBe('from first\n');
    // Its tasks are all done, but it is open: it waits for /complete.
    expect((await alice.job(id)).status).toBe('RUNNING');
    expect((await alice.call('POST', `/jobs/${id}/complete`)).status).toBe(202);
    const late = await add(id, { tasks: [{ id: 'late', command: 'true' }] });
    expect([late.status, late.body.code]).toEqual([409, expect.stringMatching(/^JOB_(NOT_OPEN|ENDED)$/)]);
    const done = await alice.until(id, ENDED);
    expect(done).toMatchObject({ status: 'FINISHED', taskCount: 3, open: false });
    expect(done.taskCounts.SUCCEEDED).toBe(3);
    expect((done.spec as { tasks: unknown[] }).tasks).toHaveLength(3);

    // A job submitted to end with its tasks takes none.
    const closed = await alice.submit({
      name: uniqueName('closed'),
      tasks: [{ id: 'a', command: 'sleep 5' }],
    });
    await alice.until(closed, ['QUEUED', 'RUNNING']);
    const refused = await add(closed, { tasks: [{ id: 'b', command: 'true' }] });
    expect([refused.status, refused.body.code]).toEqual([409, 'JOB_NOT_OPEN']);
    await alice.call('POST', `/jobs/${closed}/cancel`);
  });

  it('should read exit codes as the spec says: success, run dependents, and fail the job at once', async () => {
    const counter = path.join(tmpdir(), uniqueName('runs'));
    const soft = await alice.submit({
      name: uniqueName('codes'),
      exitCodes: { success: [3] },
      tasks: [
        { id: 'soft', command: 'echo soft; exit 3' },
        { id: 'partial', command: 'exit 4', exitCodes: { runDependents: [4] } },
        { id: 'after', command: 'echo after', dependsOn: ['partial'] },
      ],
    });
    const softly = await alice.until(soft, ENDED);
    // partial failed (so the job did), but let its dependent run; soft's 3 was a success.
    expect(softly).toMatchObject({ status: 'FAILED', condition: 'TASK_FAILED', exitCodes: { partial: 4 } });
    expect(await states(soft)).toEqual({ soft: 'SUCCEEDED', partial: 'FAILED', after: 'SUCCEEDED' });
    expect((await alice.call('GET', `/jobs/${soft}/tasks/soft/logs/stderr`)).text).toBe(
      'cloudjobs: exit code 3 counts as success\n',
    );

    const fatal = await alice.submit({
      name: uniqueName('fatal'),
      retries: 3,
      tasks: [
        { id: 'fatal', command: `echo x >> ${counter}; exit 2`, exitCodes: { failJob: [2] } },
        { id: 'long', command: 'sleep 120' },
      ],
    });
    const failed = await alice.until(fatal, ENDED);
    expect(failed).toMatchObject({
      status: 'FAILED',
      condition: 'TASK_FAILED',
      message: 'task fatal exited with 2, which fails the job',
    });
    // Not retried, and the job did not wait for its other task.
    expect(await readFile(counter, 'utf8')).toBe('x\n');
    expect(await states(fatal)).toEqual({ fatal: 'FAILED', long: 'CANCELLED' });
    await rm(counter, { force: true });
  });

  it('should resubmit a job made from a template at the template version it was made with', async () => {
    const template = uniqueName('tpl').replace(/[^a-z0-9-]/g, '');
    const put = (version: string, command: string) =>
      alice.call('PUT', `/templates/${template}/versions/${version}`, {
        spec: {
          tasks: [
            { id: 'step', command },
            { id: 'then', command: 'echo then', dependsOn: ['step'] },
          ],
        },
      });
    expect((await put('1.0.0', 'test "${mode}" = ok && echo one')).status).toBe(201);
    const id = await alice.submit({
      name: uniqueName('fromtpl'),
      template: `${template}@1.0.0`,
      parameters: { mode: 'bad' },
    });
    expect(await alice.until(id, ENDED)).toMatchObject({ status: 'FAILED', template: `${template}@1.0.0` });
    // The spec is shown as it was written, so it can be submitted again as it is.
    expect((await alice.job(id)).spec).toMatchObject({ template: `${template}@1.0.0` });
    // A newer version since changes nothing for the resubmission: it names the version it had.
    expect((await put('2.0.0', 'echo two')).status).toBe(201);
    const again = await alice.json<{ id: string }>('POST', `/jobs/${id}/resubmit`, {
      tasks: 'failed',
      parameters: { mode: 'ok' },
    });
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect(await alice.until(again.body.id, ENDED)).toMatchObject({
      status: 'FINISHED',
      template: `${template}@1.0.0`,
      taskCount: 2,
    });
    expect((await alice.call('GET', `/jobs/${again.body.id}/tasks/step/logs/stdout`)).text).toBe('one\n');
  });
});

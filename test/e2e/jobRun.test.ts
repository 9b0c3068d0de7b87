import { describe, expect, inject, it } from 'vitest';
import { jobClient, type JobView } from '../support/jobClient.js';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';
import { outputListingSchema, problemSchema } from '../../shared/http/openapi.js';
import { waitFor } from '../support/waitFor.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef';
const OPS = 'ops-token-0123456789abcdef';

type Job = JobView;

// Each test runs its own job on one runtime, concurrently: a job is what a user waits for, and
// the runtime is built to run many at once.
describe.concurrent('jobs running on the embedded runtime, followed over HTTP', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: {
      CLOUDJOBS_API_TOKENS: `alice=${ALICE},bob=${BOB},ops:admin=${OPS}`,
      CLOUDJOBS_TABLE_PREFIX: uniqueName('r'),
      CLOUDJOBS_BLOCKED_RETRY_INITIAL_SECONDS: '1',
      CLOUDJOBS_BLOCKED_RETRY_MAX_SECONDS: '2',
    },
    args: ['--batch-slots', '12'],
  });

  const alice = jobClient(runtime, ALICE);
  const { submit, history, tasks, until } = alice;
  const call = (token: string, method: string, path: string, body?: unknown) =>
    alice.call(method, path, body, token);
  const json = <T>(token: string, method: string, path: string, body?: unknown) =>
    alice.json<T>(method, path, body, token);

  it('should run a three-task workflow to FINISHED, passing a file from step to step', async () => {
    const id = await submit({
      name: 'workflow',
      tasks: [
        { id: 'prep', command: 'echo hello > greeting.txt && echo prepared', outputs: ['greeting.txt'] },
        {
          id: 'work',
          command: 'cat greeting.txt; echo working >&2; mkdir -p out && wc -c < greeting.txt > out/size.txt',
          inputs: [{ fromTask: 'prep', path: 'greeting.txt' }],
          outputs: ['out/*.txt'],
        },
        { id: 'report', command: 'echo reported', dependsOn: ['work'] },
      ],
    });
    const done = await until(id, ['FINISHED', 'FAILED', 'CANCELLED']);
    expect(done).toMatchObject({ status: 'FINISHED', condition: 'NORMAL_COMPLETION' });
    expect(done.taskCounts).toMatchObject({ SUCCEEDED: 3, FAILED: 0, PENDING: 0, QUEUED: 0, RUNNING: 0 });

    const entries = await history(id);
    expect(entries.map((entry) => entry.status)).toEqual([
      'PENDING',
      'PROCESSING_INPUTS',
      'STAGING_INPUTS',
      'STAGING_JOB',
      'SUBMITTING_JOB',
      'QUEUED',
      'RUNNING',
      'ARCHIVING',
      'FINISHED',
    ]);
    expect(entries.map((entry) => entry.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const times = entries.map((entry) => Date.parse(entry.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));

    const byId = await tasks(id);
    for (const task of Object.values(byId)) {
      expect(task).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, attempt: 1 });
      expect(task.startedAt && task.endedAt && task.startedAt <= task.endedAt).toBe(true);
    }
    expect(byId.work!.startedAt! >= byId.prep!.endedAt!).toBe(true);
    expect(byId.report!.startedAt! >= byId.work!.endedAt!).toBe(true);

    const stdout = await call(ALICE, 'GET', `/jobs/${id}/tasks/work/logs/stdout`);
    expect(stdout.status).toBe(200);
    expect(stdout.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(stdout.text).toBe('hello\n');
    expect((await call(ALICE, 'GET', `/jobs/${id}/tasks/work/logs/stderr`)).text).toBe('working\n');

    const outputs = outputListingSchema
      .strict()
      .parse((await json(ALICE, 'GET', `/jobs/${id}/outputs`)).body);
    expect(outputs.archived).toBe(true);
    expect(outputs.files.map((file) => [file.path, file.taskId, file.size])).toEqual([
      ['prep/greeting.txt', 'prep', 6],
      ['work/out/size.txt', 'work', 2],
    ]);
    const download = await call(ALICE, 'GET', outputs.files[1]!.links.download.replace(/^\/api/, ''));
    expect(download.status).toBe(200);
    expect(download.text).toBe('6\n');
    expect(download.headers.get('content-disposition')).toContain('size.txt');

    for (const path of [
      `/jobs/${id}/tasks/work/logs/stdout`,
      `/jobs/${id}/outputs`,
      `/jobs/${id}/outputs/prep/greeting.txt`,
    ]) {
      expect((await call(BOB, 'GET', path)).status, path).toBe(404);
    }
    const traversal = await json(ALICE, 'GET', `/jobs/${id}/outputs/prep/..%2F..%2Fspec.json`);
    expect(traversal.status).toBe(400);
    problemSchema.parse(traversal.body);
  });

  it('should fail the job on a failing task with its exit code, skip its dependents, and still run a cleanup task', async () => {
    const id = await submit({
      name: 'failing',
      tasks: [
        { id: 'a', command: 'exit 3' },
        { id: 'b', command: 'echo never', dependsOn: ['a'] },
        { id: 'c', command: 'echo trying; exit 4', runDependentsOnFailure: true },
        { id: 'cleanup', command: 'echo cleaning', dependsOn: ['c'] },
        { id: 'after-b', command: 'echo never', dependsOn: ['b'] },
      ],
    });
    const done = await until(id, ['FINISHED', 'FAILED', 'CANCELLED']);
    expect(done).toMatchObject({ status: 'FAILED', condition: 'TASK_FAILED', exitCodes: { a: 3, c: 4 } });
    expect(done.message).toBe('2 failed, 2 skipped of 5 task(s)');
    const byId = await tasks(id);
    expect(
      Object.fromEntries(Object.values(byId).map((t) => [t.id, [t.status, t.exitCode ?? null]])),
    ).toEqual({
      a: ['FAILED', 3],
      b: ['SKIPPED', null],
      c: ['FAILED', 4],
      cleanup: ['SUCCEEDED', 0],
      'after-b': ['SKIPPED', null],
    });
    expect(byId.a!.failure?.code).toBe('FailureExitCode');
    expect((await history(id)).map((entry) => entry.status).slice(-3)).toEqual([
      'RUNNING',
      'ARCHIVING',
      'FAILED',
    ]);
    expect((await call(ALICE, 'GET', `/jobs/${id}/tasks/c/logs/stdout`)).text).toBe('trying\n');
  });

  it('should cancel a running job: its running task is stopped and the job ends CANCELLED', async () => {
    const id = await submit({
      name: 'cancelled',
      tasks: [
        { id: 'quick', command: 'echo quick' },
        { id: 'long', command: 'sleep 120' },
        { id: 'later', command: 'echo never', dependsOn: ['long'] },
      ],
    });
    await until(id, ['RUNNING']);
    const cancel = await json<Job>(ALICE, 'POST', `/jobs/${id}/cancel`);
    expect(cancel.status).toBe(202);
    expect((await call(BOB, 'POST', `/jobs/${id}/cancel`)).status).toBe(404);
    const done = await until(id, ['CANCELLED', 'FAILED', 'FINISHED'], 30_000);
    expect(done).toMatchObject({ status: 'CANCELLED', condition: 'CANCELLED_BY_USER' });
    const byId = await tasks(id);
    expect(byId.quick!.status).toBe('SUCCEEDED');
    expect(byId.long!.status).toBe('CANCELLED');
    expect(byId.later!.status).toBe('CANCELLED');
    const again = await json(ALICE, 'POST', `/jobs/${id}/cancel`);
    expect(again.status).toBe(409);
    expect(problemSchema.parse(again.body).code).toBe('JOB_ENDED');
    // Ended, so it may now be forgotten.
    expect((await call(ALICE, 'DELETE', `/jobs/${id}`)).status).toBe(204);
    expect((await call(ALICE, 'GET', `/jobs/${id}`)).status).toBe(404);
  });

  it('should pause a running job and resume it to the end', async () => {
    const id = await submit({
      name: 'paused',
      tasks: [
        { id: 'quick', command: 'echo quick' },
        { id: 'slow', command: 'sleep 5 && echo slept' },
      ],
    });
    await until(id, ['RUNNING']);
    expect((await call(ALICE, 'POST', `/jobs/${id}/resume`)).status).toBe(409);
    expect((await call(ALICE, 'POST', `/jobs/${id}/pause`)).status).toBe(202);
    await until(id, ['PAUSED']);
    const held = await tasks(id);
    expect(held.slow!.status).not.toBe('SUCCEEDED');
    expect((await call(ALICE, 'POST', `/jobs/${id}/resume`)).status).toBe(202);
    const done = await until(id, ['FINISHED', 'FAILED', 'CANCELLED']);
    expect(done.status).toBe('FINISHED');
    const statuses = (await history(id)).map((entry) => entry.status);
    expect(statuses.slice(statuses.indexOf('RUNNING'))).toEqual([
      'RUNNING',
      'PAUSED',
      'RUNNING',
      'ARCHIVING',
      'FINISHED',
    ]);
    expect((await call(ALICE, 'GET', `/jobs/${id}/tasks/slow/logs/stdout`)).text).toBe('slept\n');
  });

  it('should keep a job with completeWhenTasksFinish false RUNNING after its tasks, until it is completed', async () => {
    const id = await submit({
      name: 'open-ended',
      completeWhenTasksFinish: false,
      tasks: [{ id: 'only', command: 'echo done' }],
    });
    await waitFor(async () => ((await tasks(id)).only?.status === 'SUCCEEDED' ? true : undefined), {
      what: 'the task to succeed',
    });
    // Every task is done, yet the job runs on: more work was announced.
    expect((await until(id, ['RUNNING', 'ARCHIVING', 'FINISHED'])).status).toBe('RUNNING');
    expect((await call(ALICE, 'POST', `/jobs/${id}/complete`)).status).toBe(202);
    expect(await until(id, ['FINISHED', 'FAILED', 'CANCELLED'])).toMatchObject({ status: 'FINISHED' });
  });

  it('should fail a job that runs past its timeout with TIMEOUT, stopping its task', async () => {
    const id = await submit({
      name: 'timed',
      timeoutMinutes: 1,
      tasks: [{ id: 'forever', command: 'sleep 600' }],
    });
    const done = await until(id, ['FAILED', 'FINISHED', 'CANCELLED'], 120_000);
    expect(done).toMatchObject({ status: 'FAILED', condition: 'TIMEOUT' });
    expect((await tasks(id)).forever!.status).toBe('CANCELLED');
    const entries = await history(id);
    const elapsed = Date.parse(entries.at(-1)!.at) - Date.parse(entries[1]!.at);
    expect(elapsed).toBeGreaterThanOrEqual(60_000);
  });

  it('should hold a job BLOCKED while its pool is missing, and run it once the pool appears', async () => {
    const pool = uniqueName('later');
    const id = await submit({ name: 'blocked', pool, tasks: [{ id: 'a', command: 'echo ran' }] });
    const blocked = await until(id, ['BLOCKED', 'FAILED']);
    expect(blocked.status).toBe('BLOCKED');
    expect(blocked.message).toContain('BATCH_POOL_NOT_FOUND');
    const created = await call(OPS, 'POST', '/pools', {
      id: pool,
      vmSize: 'standard_d2s_v3',
      dedicatedNodes: 1,
    });
    expect(created.status, created.text).toBe(201);
    const done = await until(id, ['FINISHED', 'FAILED', 'CANCELLED']);
    expect(done.status).toBe('FINISHED');
    expect((await history(id)).map((entry) => entry.status).slice(3, 6)).toEqual([
      'STAGING_JOB',
      'BLOCKED',
      'SUBMITTING_JOB',
    ]);
  });

  it('should fail a job whose inputs do not exist or are not its owner’s, naming them', async () => {
    const theirs = await submit(
      { name: 'theirs', tasks: [{ id: 't', command: 'echo x > x.txt', outputs: ['x.txt'] }] },
      BOB,
    );
    const id = await submit({
      name: 'bad-inputs',
      inputs: [
        { source: 'blob://nowhere/missing.csv', target: 'missing.csv' },
        { source: 'blob://azure-webjobs-secrets/host.json', target: 'keys.json' },
      ],
      tasks: [
        {
          id: 'a',
          command: 'cat x.txt',
          inputs: [{ source: `blob://jobs/${theirs}/tasks/t/x.txt`, target: 'x.txt' }],
        },
      ],
    });
    const done = await until(id, ['FAILED', 'FINISHED', 'CANCELLED']);
    expect(done).toMatchObject({ status: 'FAILED', condition: 'INVALID_INPUT' });
    expect(done.message).toContain('blob://nowhere/missing.csv: does not exist');
    expect(done.message).toContain(`no job ${theirs} of yours holds it`);
    expect(done.message).toContain("the app's own container azure-webjobs-secrets is not an input source");
    expect((await history(id)).map((entry) => entry.status)).toEqual([
      'PENDING',
      'PROCESSING_INPUTS',
      'FAILED',
    ]);
  });
});

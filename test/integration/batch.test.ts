import { randomBytes } from 'node:crypto';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ComputeTaskSpec, ComputeTaskState } from '../../shared/compute/compute.js';
import { AzureBatch } from '../../shared/adapters/azureBatch.js';
import { isAppError } from '../../shared/errors.js';
import { sasContainer, startLocalBatch, type LocalBatchFixture } from '../support/localBatch.js';
import { waitFor } from '../support/waitFor.js';

const sh = (script: string) => `/bin/sh -c '${script.replace(/'/g, `'\\''`)}'`;
const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

async function allTasks(fixture: LocalBatchFixture, jobId: string): Promise<Map<string, ComputeTaskState>> {
  const tasks = new Map<string, ComputeTaskState>();
  let continuation: string | undefined;
  do {
    const page = await fixture.adapter.listTasks(jobId, { ...(continuation ? { continuation } : {}) });
    for (const task of page.tasks) tasks.set(task.id, task);
    continuation = page.continuation;
  } while (continuation);
  return tasks;
}

async function waitForJobEnd(fixture: LocalBatchFixture, jobId: string, timeoutMs = 60_000) {
  return waitFor(
    async () => {
      const job = await fixture.adapter.getJob(jobId);
      return job?.state === 'completed' ? job : undefined;
    },
    { timeoutMs, intervalMs: 50, what: `job ${jobId} to complete` },
  );
}

describe('Azure Batch adapter against the local Batch service', () => {
  let fixture: LocalBatchFixture;
  const pool = unique('pool');

  beforeAll(async () => {
    fixture = await startLocalBatch();
    await fixture.readyPool(pool, 4);
  });
  afterAll(async () => {
    await fixture.dispose();
  });

  it('should run a 50-task DAG with id ranges in dependency order', async () => {
    const jobId = unique('dag');
    expect(await fixture.adapter.ensureJob({ id: jobId, poolId: pool })).toBe('created');
    expect(await fixture.adapter.ensureJob({ id: jobId, poolId: pool })).toBe('exists');
    const range = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
    const dependencies = new Map<number, string[]>();
    for (let i = 1; i <= 50; i++) {
      if (i <= 10) dependencies.set(i, []);
      else if (i <= 20) dependencies.set(i, range(1, 10));
      else if (i <= 40) dependencies.set(i, [String(i - 10)]);
      else dependencies.set(i, range(21, 40));
    }
    const tasks: ComputeTaskSpec[] = [...dependencies].map(([id, deps]) => ({
      id: String(id),
      commandLine: sh('sleep 0.02'),
      dependsOn: deps,
    }));
    // Added in reverse: dependents arrive before what they depend on.
    const report = await fixture.adapter.submitTasks(jobId, tasks.reverse());
    expect(report).toMatchObject({ added: 50, existing: 0, rejected: [] });
    await fixture.adapter.sealJob(jobId);
    const job = await waitForJobEnd(fixture, jobId);
    expect(job.terminateReason).toBe('AllTasksComplete');
    const states = await allTasks(fixture, jobId);
    expect(states.size).toBe(50);
    for (const [id, deps] of dependencies) {
      const task = states.get(String(id))!;
      expect(task).toMatchObject({ state: 'completed', result: 'success', exitCode: 0 });
      for (const dep of deps)
        expect(states.get(dep)!.endTime!.getTime()).toBeLessThanOrEqual(task.startTime!.getTime());
    }
    expect(await fixture.adapter.taskCounts(jobId)).toEqual({
      active: 0,
      running: 0,
      completed: 50,
      succeeded: 50,
      failed: 0,
    });
  });

  it('should hold dependents of a failed task unless it lets them run', async () => {
    const jobId = unique('fail');
    await fixture.adapter.ensureJob({ id: jobId, poolId: pool });
    await fixture.adapter.submitTasks(jobId, [
      { id: 'strict', commandLine: sh('exit 3'), runDependentsOnFailure: false },
      { id: 'lenient', commandLine: sh('exit 4'), runDependentsOnFailure: true },
      { id: 'after-strict', commandLine: sh('true'), dependsOn: ['strict'] },
      { id: 'after-lenient', commandLine: sh('true'), dependsOn: ['lenient'] },
      { id: 'after-both', commandLine: sh('true'), dependsOn: ['strict', 'lenient'] },
    ]);
    const states = await waitFor(async () => {
      const all = await allTasks(fixture, jobId);
      return ['strict', 'lenient', 'after-lenient'].every((id) => all.get(id)?.state === 'completed')
        ? all
        : undefined;
    });
    expect(states.get('strict')).toMatchObject({
      result: 'failure',
      exitCode: 3,
      failure: { code: 'FailureExitCode' },
    });
    expect(states.get('lenient')).toMatchObject({ result: 'failure', exitCode: 4 });
    expect(states.get('after-lenient')).toMatchObject({ state: 'completed', result: 'success' });
    // Blocked for good: the failure that blocks them has already been applied.
    expect(states.get('after-strict')!.state).toBe('active');
    expect(states.get('after-both')!.state).toBe('active');
    await fixture.adapter.terminateJob(jobId, 'test over');
    const job = await waitForJobEnd(fixture, jobId);
    expect(job.terminateReason).toBe('test over');
  });

  it('should retry a failing task up to its limit and kill a task that outlives its wall clock, children included', async () => {
    const jobId = unique('retry');
    await fixture.adapter.ensureJob({ id: jobId, poolId: pool });
    await fixture.adapter.submitTasks(jobId, [
      {
        id: 'third-time',
        commandLine: sh('n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ]'),
        maxRetries: 3,
      },
      { id: 'never', commandLine: sh('exit 7'), maxRetries: 1 },
      { id: 'no-such-program', commandLine: 'cloudjobs-no-such-program --flag', maxRetries: 2 },
      { id: 'killed', commandLine: sh('kill -TERM $$') },
      {
        id: 'slow',
        commandLine: sh('sleep 30 & echo $! > $AZ_BATCH_NODE_SHARED_DIR/slow-child.pid; sleep 30'),
        maxWallClockMs: 700,
      },
    ]);
    await fixture.adapter.sealJob(jobId);
    await waitForJobEnd(fixture, jobId);
    const states = await allTasks(fixture, jobId);
    expect(states.get('third-time')).toMatchObject({ result: 'success', retryCount: 2, exitCode: 0 });
    expect(states.get('never')).toMatchObject({ result: 'failure', retryCount: 1, exitCode: 7 });
    // A program that cannot be started is the task's error, not a retryable exit code.
    expect(states.get('no-such-program')).toMatchObject({
      result: 'failure',
      retryCount: 0,
      failure: { code: 'CommandProgramNotFound' },
    });
    expect(states.get('no-such-program')?.failure?.message).toContain('cloudjobs-no-such-program');
    expect(states.get('killed')).toMatchObject({ result: 'failure', exitCode: 128 + 15 });
    const slow = states.get('slow')!;
    expect(slow).toMatchObject({ result: 'failure', failure: { code: 'MaxWallClockTimeExpiry' } });
    expect(slow.endTime!.getTime() - slow.startTime!.getTime()).toBeLessThan(5000);
    const { readFile } = await import('node:fs/promises');
    const path = await import('node:path');
    const childPid = Number(
      await readFile(path.join(fixture.batch.state.nodeRoot, 'shared', 'slow-child.pid'), 'utf8'),
    );
    // Gone, or a zombie whose parent is gone (a container's init may not reap it): not running.
    const status = await readFile(`/proc/${childPid}/stat`, 'utf8').catch(() => '');
    expect(status === '' || / Z /.test(status)).toBe(true);
  });

  it('should stage resource files and upload logs and outputs where the task says', async () => {
    const connection = inject('azurite');
    const inputs = await sasContainer(connection, unique('inputs'));
    const outputs = await sasContainer(connection, unique('outputs'));
    await inputs.client.getBlockBlobClient('data/input.txt').upload('hello from blob', 15);
    const jobId = unique('files');
    await fixture.adapter.ensureJob({ id: jobId, poolId: pool });
    await fixture.adapter.submitTasks(jobId, [
      {
        id: 'work',
        commandLine: sh(
          'cat in/data/input.txt; echo oops >&2; mkdir -p results/sub; echo 1 > results/a.csv; echo 2 > results/sub/b.csv; echo no > other.txt; exit 2',
        ),
        resourceFiles: [{ source: { containerUrl: inputs.url, prefix: 'data/' }, target: 'in' }],
        logs: { containerUrl: outputs.url, path: `${jobId}/logs/work` },
        outputs: [
          {
            pattern: 'results/**',
            destination: { containerUrl: outputs.url, path: `${jobId}/out` },
            when: 'completion',
          },
          {
            pattern: 'other.txt',
            destination: { containerUrl: outputs.url, path: `${jobId}/on-success.txt` },
            when: 'success',
          },
        ],
      },
    ]);
    await fixture.adapter.sealJob(jobId);
    await waitForJobEnd(fixture, jobId);
    const names: string[] = [];
    for await (const blob of outputs.client.listBlobsFlat({ prefix: `${jobId}/` })) names.push(blob.name);
    expect(names.sort()).toEqual([
      `${jobId}/logs/work/stderr.txt`,
      `${jobId}/logs/work/stdout.txt`,
      `${jobId}/out/a.csv`,
      `${jobId}/out/sub/b.csv`,
    ]);
    const text = async (name: string) =>
      (await outputs.client.getBlobClient(name).downloadToBuffer()).toString();
    expect(await text(`${jobId}/logs/work/stdout.txt`)).toBe('hello from blob');
    expect(await text(`${jobId}/logs/work/stderr.txt`)).toBe('oops\n');
    expect(await text(`${jobId}/out/sub/b.csv`)).toBe('2\n');
  });

  it('should report a container task as failed, not run it on the host, when there is no Docker engine', async () => {
    const jobId = unique('image');
    await fixture.adapter.ensureJob({ id: jobId, poolId: pool });
    await fixture.adapter.submitTasks(jobId, [
      {
        id: 'boxed',
        commandLine: sh('touch $AZ_BATCH_NODE_SHARED_DIR/ran-on-host'),
        image: 'python:3.12-slim',
      },
    ]);
    await fixture.adapter.sealJob(jobId);
    await waitForJobEnd(fixture, jobId);
    const task = (await fixture.adapter.getTask(jobId, 'boxed'))!;
    const { hasDockerEngine } = await import('../../infra/local/batch/executor.js');
    if (await hasDockerEngine()) return;
    expect(task).toMatchObject({ result: 'failure', failure: { code: 'ContainerEngineUnavailable' } });
    expect(task.failure!.message).toContain('python:3.12-slim');
    const { existsSync } = await import('node:fs');
    const path = await import('node:path');
    expect(existsSync(path.join(fixture.batch.state.nodeRoot, 'shared', 'ran-on-host'))).toBe(false);
  });

  it('should lose nothing when the service restarts in the middle of a job', async () => {
    const jobId = unique('restart');
    await fixture.adapter.ensureJob({ id: jobId, poolId: pool });
    const tasks = Array.from({ length: 24 }, (_, i) => ({
      id: String(i + 1),
      commandLine: sh('sleep 0.2; echo done'),
    }));
    await fixture.adapter.submitTasks(jobId, tasks);
    await fixture.adapter.sealJob(jobId);
    await waitFor(async () => ((await fixture.adapter.taskCounts(jobId)).completed >= 6 ? true : undefined));
    await fixture.restart();
    const job = await waitForJobEnd(fixture, jobId);
    expect(job.terminateReason).toBe('AllTasksComplete');
    const states = await allTasks(fixture, jobId);
    expect(
      [...states.values()].filter((t) => t.state === 'completed' && t.result === 'success'),
    ).toHaveLength(24);
    // Tasks running at the restart were requeued, as Batch does when it loses a node.
    expect([...states.values()].some((t) => t.requeueCount > 0)).toBe(true);
  });

  it('should requeue preempted tasks and run them again to the end', async () => {
    const jobId = unique('preempt');
    await fixture.adapter.ensureJob({ id: jobId, poolId: pool });
    await fixture.adapter.submitTasks(
      jobId,
      Array.from({ length: 4 }, (_, i) => ({ id: `t${i}`, commandLine: sh('sleep 2; echo done') })),
    );
    await fixture.adapter.sealJob(jobId);
    fixture.batch.setFaults({ preemptRate: 1 });
    try {
      await waitFor(async () => {
        const { tasks } = await fixture.adapter.listTasks(jobId);
        return tasks.some((t) => t.requeueCount > 0) ? true : undefined;
      });
    } finally {
      fixture.batch.setFaults({ preemptRate: 0 });
    }
    await waitForJobEnd(fixture, jobId);
    const states = [...(await allTasks(fixture, jobId)).values()];
    expect(states.map((t) => t.result)).toEqual(['success', 'success', 'success', 'success']);
    expect(states.some((t) => t.requeueCount > 0 && t.exitCode === 0)).toBe(true);
  });
});

describe('submitting 10,000 tasks through throttling and lost responses', () => {
  let fixture: LocalBatchFixture;

  beforeAll(async () => {
    fixture = await startLocalBatch({
      faults: { throttleRate: 0.2, throttleRetryAfterSeconds: 0, lostResponseRate: 0.1 },
      // Faults are random: enough attempts that a run of them cannot exhaust the budget (0.28^50).
      adapter: { maxAttempts: 50 },
    });
    // No nodes: the tasks only have to be added, not run.
    await fixture.adapter.createPool({ id: 'idle', vmSize: 'standard_d2s_v3', dedicatedNodes: 0 });
  });
  afterAll(async () => {
    await fixture.dispose();
  });

  it('should add every task exactly once', async () => {
    const jobId = unique('big');
    await waitFor(() =>
      fixture.batch.state.pools.get('idle')?.allocationState === 'steady' ? true : undefined,
    );
    await fixture.adapter.ensureJob({ id: jobId, poolId: 'idle' });
    const tasks: ComputeTaskSpec[] = Array.from({ length: 10_000 }, (_, i) => ({
      id: String(i + 1),
      commandLine: sh(`echo ${i + 1}`),
      ...(i > 0 && i % 100 === 0 ? { dependsOn: [String(i - 99), String(i - 50)] } : {}),
    }));
    const report = await fixture.adapter.submitTasks(jobId, tasks);
    expect(report.added + report.existing).toBe(10_000);
    expect(report.rejected).toEqual([]);
    expect(report.existing).toBeGreaterThan(0);
    expect(report.requests).toBeGreaterThan(100);
    expect(fixture.batch.stats.throttled).toBeGreaterThan(0);

    fixture.batch.setFaults({ throttleRate: 0, lostResponseRate: 0 });
    const states = await allTasks(fixture, jobId);
    expect(states.size).toBe(10_000);
    expect(new Set([...states.keys()])).toEqual(new Set(tasks.map((t) => t.id)));
    // Submitting again changes nothing.
    const again = await fixture.adapter.submitTasks(jobId, tasks.slice(0, 300));
    expect(again).toMatchObject({ added: 0, existing: 300 });
    expect((await fixture.adapter.taskCounts(jobId)).active).toBe(10_000);
  });
});

describe('Batch errors', () => {
  let fixture: LocalBatchFixture;
  let raw: BatchServiceClient;

  beforeAll(async () => {
    fixture = await startLocalBatch();
    raw = new BatchServiceClient(
      new BatchSharedKeyCredentials(fixture.batch.accountName, fixture.batch.accountKey),
      fixture.batch.url,
      {
        noRetryPolicy: true,
      },
    );
    await fixture.adapter.createPool({ id: 'p', vmSize: 'standard_d2s_v3', dedicatedNodes: 0 });
  });
  afterAll(async () => {
    await fixture.dispose();
  });

  const failureOf = async (action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (error) {
      return error as {
        statusCode?: number;
        code?: string;
        body?: { code?: string; values?: Array<{ key: string; value: string }> };
      };
    }
    throw new Error('expected a failure');
  };

  it.each(
    (
      [
        [
          'a job id with bad characters',
          () => raw.job.add({ id: 'no spaces allowed', poolInfo: { poolId: 'p' } }),
          400,
          'InvalidPropertyValue',
        ],
        [
          'a job without a pool',
          () => raw.job.add({ id: 'nopool', poolInfo: {} }),
          400,
          'InvalidPropertyValue',
        ],
        ['a missing job', () => raw.job.get('nope'), 404, 'JobNotFound'],
        ['a missing pool', () => raw.pool.get('nope'), 404, 'PoolNotFound'],
        [
          'a missing task',
          async () => {
            await raw.job.add({ id: 'has-no-tasks', poolInfo: { poolId: 'p' } }).catch(() => undefined);
            return raw.task.get('has-no-tasks', 'nope');
          },
          404,
          'TaskNotFound',
        ],
        [
          'an unsupported filter',
          () => raw.job.list({ jobListOptions: { filter: "state startswith 'a'" } }),
          400,
          'InvalidQueryParameterValue',
        ],
        [
          'tasks for a job that has ended',
          async () => {
            await raw.job.add({ id: 'ended', poolInfo: { poolId: 'p' } }).catch(() => undefined);
            await raw.job.terminate('ended').catch(() => undefined);
            return raw.task.add('ended', { id: 'late', commandLine: 'true' });
          },
          409,
          'JobCompleted',
        ],
        [
          'a job preparation task, which it does not emulate',
          () =>
            raw.job.add({
              id: 'prep',
              poolInfo: { poolId: 'p' },
              jobPreparationTask: { commandLine: 'true' },
            }),
          400,
          'InvalidPropertyValue',
        ],
        [
          'a multi-instance task, which it does not emulate',
          async () => {
            await raw.job.add({ id: 'mpi', poolInfo: { poolId: 'p' } }).catch(() => undefined);
            return raw.task.add('mpi', {
              id: 'm',
              commandLine: 'true',
              multiInstanceSettings: { numberOfInstances: 2, coordinationCommandLine: 'true' },
            });
          },
          400,
          'InvalidPropertyValue',
        ],
        [
          'an existing job',
          async () => {
            await raw.job.add({ id: 'twice', poolInfo: { poolId: 'p' } }).catch(() => undefined);
            return raw.job.add({ id: 'twice', poolInfo: { poolId: 'p' } });
          },
          409,
          'JobExists',
        ],
      ] as Array<[string, () => Promise<unknown>, number, string]>
    ).map(([name, action, status, code]) => [name, status, code, action] as const),
  )('should answer %s with %i %s', async (_case, status, code, action) => {
    const error = await failureOf(action);
    expect(error.statusCode).toBe(status);
    expect(error.code ?? error.body?.code).toBe(code);
  });

  it('should refuse a request signed with the wrong key', async () => {
    const wrong = new BatchServiceClient(
      new BatchSharedKeyCredentials(fixture.batch.accountName, Buffer.from('wrong key').toString('base64')),
      fixture.batch.url,
      {
        noRetryPolicy: true,
      },
    );
    const error = await failureOf(() => wrong.pool.list());
    expect(error.statusCode).toBe(403);
    expect(error.code ?? error.body?.code).toBe('AuthenticationFailed');
  });

  it('should answer the health ping with the right key, and say why not with a wrong one', async () => {
    await expect(fixture.adapter.ping(AbortSignal.timeout(3000))).resolves.toBeUndefined();
    const wrong = new AzureBatch({
      accountUrl: fixture.batch.url,
      credentials: {
        kind: 'sharedKey',
        accountName: fixture.batch.accountName,
        accountKey: Buffer.from('wrong key').toString('base64'),
      },
    });
    await expect(wrong.ping(AbortSignal.timeout(3000))).rejects.toThrow(/authenticate/);
  });

  it('should map Batch errors to typed errors that say whether to wait or fail', async () => {
    const missingPool = await failureOf(() =>
      fixture.adapter.ensureJob({ id: unique('j'), poolId: 'no-such-pool' }),
    );
    expect(isAppError(missingPool) && { code: missingPool.code, retry: missingPool.retry }).toEqual({
      code: 'BATCH_POOL_NOT_FOUND',
      retry: 'blocked',
    });

    const limited = await startLocalBatch({ activeJobQuota: 1 });
    try {
      await limited.adapter.createPool({ id: 'q', vmSize: 'standard_d2s_v3', dedicatedNodes: 0 });
      await limited.adapter.ensureJob({ id: unique('quota'), poolId: 'q' });
      const quota = await failureOf(() => limited.adapter.ensureJob({ id: unique('quota'), poolId: 'q' }));
      expect(isAppError(quota) && { code: quota.code, retry: quota.retry }).toEqual({
        code: 'BATCH_QUOTA_REACHED',
        retry: 'blocked',
      });
    } finally {
      await limited.dispose();
    }

    const badTask = await fixture.adapter.submitTasks('has-no-tasks', [
      { id: 'ok', commandLine: 'true' },
      { id: 'bad id!', commandLine: 'true' },
    ]);
    expect(badTask).toMatchObject({
      added: 1,
      rejected: [{ taskId: 'bad id!', code: 'InvalidPropertyValue' }],
    });

    const missingJob = await failureOf(() =>
      fixture.adapter.submitTasks('nope', [{ id: 'x', commandLine: 'true' }]),
    );
    expect(isAppError(missingJob) && missingJob.code).toBe('BATCH_JOB_NOT_FOUND');
  });

  it('should retry throttled calls, honouring Retry-After, until they go through', async () => {
    fixture.batch.setFaults({ throttleRate: 0.6, throttleRetryAfterSeconds: 0 });
    const patient = new AzureBatch({
      accountUrl: fixture.batch.url,
      credentials: {
        kind: 'sharedKey',
        accountName: fixture.batch.accountName,
        accountKey: fixture.batch.accountKey,
      },
      // Throttling is random: enough attempts that a run of 429s cannot exhaust them (0.6^50).
      maxAttempts: 50,
    });
    const throttledBefore = fixture.batch.stats.throttled;
    try {
      // Until one call has been throttled at least once (almost always the first).
      for (let i = 0; i < 20 && fixture.batch.stats.throttled === throttledBefore; i++) {
        expect((await patient.listPools()).map((p) => p.id)).toContain('p');
      }
      expect(fixture.batch.stats.throttled).toBeGreaterThan(throttledBefore);
    } finally {
      fixture.batch.setFaults({ throttleRate: 0 });
    }
  });
});

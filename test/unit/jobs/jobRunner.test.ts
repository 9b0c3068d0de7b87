/* eslint-disable @typescript-eslint/require-await -- fakes keep the async signatures of what they stand in for */
import { beforeEach, describe, expect, it } from 'vitest';
import type {
  ComputeBackend,
  ComputeJobSpec,
  ComputeTaskSpec,
  SubmitReport,
} from '../../../shared/compute/compute.js';
import { jobLayout } from '../../../shared/domain/jobLayout.js';
import { DEFAULT_LIMITS } from '../../../shared/domain/jobSpec.js';
import type { DataLocations } from '../../../shared/domain/batchPlan.js';
import { BlockedError, TransientError, ValidationError } from '../../../shared/errors.js';
import type { Caller } from '../../../shared/identity.js';
import { JobRunner, type JobRunnerOptions } from '../../../shared/jobs/jobRunner.js';
import { MAX_FOLDER_FILES } from '../../../shared/jobs/inputFolders.js';
import { JobsApi } from '../../../shared/jobs/jobsApi.js';
import { MemoryJobStore } from '../../support/memoryStores.js';
import { Secrets } from '../../../shared/jobs/secrets.js';
import { FileSecrets } from '../../../shared/adapters/fileSecrets.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryBlobContainers } from '../../support/memoryBlobs.js';

/** Batch as the runner sees it: jobs created, tasks submitted (each id once), refusals scripted. */
class FakeBatch {
  readonly jobs = new Map<string, ComputeJobSpec>();
  readonly tasks = new Map<string, ComputeTaskSpec>();
  /** What ensureJob throws next, once. */
  refuse: Error | undefined;

  backend(): ComputeBackend {
    return {
      ensureJob: async (spec: ComputeJobSpec) => {
        const refusal = this.refuse;
        this.refuse = undefined;
        if (refusal) throw refusal;
        if (this.jobs.has(spec.id)) return 'exists';
        this.jobs.set(spec.id, spec);
        return 'created';
      },
      setJobPriority: async (jobId: string, priority: number) => {
        const job = this.jobs.get(jobId);
        if (!job) return false;
        this.jobs.set(jobId, { ...job, priority });
        return true;
      },
      submitTasks: async (_job: string, tasks: ComputeTaskSpec[]): Promise<SubmitReport> => {
        const fresh = tasks.filter((t) => !this.tasks.has(t.id));
        for (const task of fresh) this.tasks.set(task.id, task);
        return { added: fresh.length, existing: tasks.length - fresh.length, rejected: [], requests: 1 };
      },
    } as unknown as ComputeBackend;
  }
}

const alice: Caller = { owner: 'alice', admin: false, via: 'token' };
const locations: DataLocations = {
  containerUrl: (container) => `https://acct.blob.core.windows.net/${container}?sig=c`,
  blobUrl: (container, name) => `https://acct.blob.core.windows.net/${container}/${name}?sig=b`,
};

describe('the job runner on fakes (store, blobs, Batch)', () => {
  let store: MemoryJobStore;
  let blobs: ReturnType<typeof memoryBlobContainers>;
  let batch: FakeBatch;
  let jobs: JobsApi;
  let runner: JobRunner;

  const submit = async (body: Record<string, unknown>) =>
    (await jobs.submit(alice, body, Buffer.from(JSON.stringify(body)))).job.id;
  const settings = () => ({
    store,
    limits: DEFAULT_LIMITS,
    defaultPool: 'cpu',
    defaultLogsContainer: 'job-logs',
  });
  /** A runner on this test's fakes, with what the test adds or changes. */
  const runnerWith = (extra: Partial<JobRunnerOptions>) =>
    new JobRunner({
      ...settings(),
      compute: batch.backend(),
      jobs: blobs('jobs'),
      containers: blobs,
      appContainers: { jobs: 'jobs', others: ['job-logs'] },
      uploadsContainer: 'uploads',
      locations: async () => locations,
      ...extra,
    });

  beforeEach(() => {
    store = new MemoryJobStore();
    blobs = memoryBlobContainers();
    batch = new FakeBatch();
    jobs = new JobsApi(settings());
    runner = runnerWith({
      appContainers: { jobs: 'jobs', others: ['job-logs', 'job-inbox', 'job-inbox-rejected', 'uploads'] },
      inputContainers: ['data'],
      now: () => new Date('2026-12-01T10:00:00Z'),
    });
  });

  it('should record the tasks and keep the graph and the files layout when the inputs are there', async () => {
    await blobs('data').write('in/a.csv', 'x,y', 'text/csv');
    const id = await submit({
      name: 'two',
      inputs: [{ source: 'blob://data/in/a.csv', target: 'a.csv' }],
      tasks: [
        { id: 'a', command: 'true' },
        { id: 'b', command: 'true', dependsOn: ['a'] },
      ],
    });
    expect(await runner.processInputs(id)).toEqual({
      outcome: 'done',
      job: {
        taskCount: 2,
        pool: 'cpu',
        owner: 'alice',
        completeWhenTasksFinish: true,
        allowCancelledTasks: false,
      },
    });
    const tasks = await store.listTasks(id, { limit: 10 });
    expect(Object.fromEntries(tasks.items.map((t) => [t.id, t.status]))).toEqual({
      a: 'QUEUED',
      b: 'PENDING',
    });
    expect(await runner.readGraph(id)).toMatchObject({ order: ['a', 'b'] });
    expect(await blobs('jobs').readJson(jobLayout.files(id))).toEqual({
      logs: { container: 'job-logs', folder: 'logs' },
      data: `jobdata-${id}`,
    });
  });

  it.each([
    ['a missing blob', 'blob://data/in/missing.csv', /blob:\/\/data\/in\/missing\.csv: does not exist/],
    ['an empty folder', 'blob://data/nothing/', /blob:\/\/data\/nothing\/: does not exist/],
    ['a container inputs may not come from', 'blob://secrets/key.txt', /inputs may come only from data/],
    [
      "the app's own container",
      'blob://job-inbox/bob/job.json',
      /the app's own container job-inbox is not an input source/,
    ],
    [
      "another owner's job files",
      'blob://jobs/someone-else/tasks/a/out.txt',
      /no job someone-else of yours holds it/,
    ],
    [
      "another owner's job's own container",
      'blob://jobdata-someone-else/someone-else/tasks/a/out.txt',
      /no job someone-else of yours holds it/,
    ],
    [
      'a file of theirs that is not there',
      'files://data/missing.csv',
      /files:\/\/data\/missing\.csv: you have no such file/,
    ],
    // Bob has this very path; files:// names only the job owner's folder, so it is not Alice's.
    [
      'a file only another owner has',
      'files://shared/b.csv',
      /files:\/\/shared\/b\.csv: you have no such file/,
    ],
    ['an empty folder of theirs', 'files://empty/', /files:\/\/empty\/: you have no such folder/],
    [
      "other owners' files by their container",
      'blob://uploads/bob/shared/b.csv',
      /the app's own container uploads/,
    ],
  ])('should fail the job INVALID_INPUT, naming %s, and record nothing', async (_what, source, message) => {
    await blobs('uploads').write('bob/shared/b.csv', 'b', 'text/csv');
    const id = await submit({
      name: 'bad',
      inputs: [{ source, target: 'x' }],
      tasks: [{ id: 'a', command: 'true' }],
    });
    const result = await runner.processInputs(id);
    expect(result).toMatchObject({ outcome: 'failed', failure: { condition: 'INVALID_INPUT' } });
    expect(result.outcome === 'failed' && result.failure.message).toMatch(message);
    expect((await store.listTasks(id, { limit: 10 })).items).toEqual([]);
  });

  it('should tell which of the jobs holding slots have not ended: not the finished, not the deleted', async () => {
    const running = await submit({ name: 'r', tasks: [{ id: 'a', command: 'true' }] });
    const finished = await submit({ name: 'f', tasks: [{ id: 'a', command: 'true' }] });
    const at = '2026-12-01T10:00:00Z';
    for (const to of [
      'PROCESSING_INPUTS',
      'STAGING_INPUTS',
      'STAGING_JOB',
      'SUBMITTING_JOB',
      'QUEUED',
    ] as const) {
      await store.recordStatus(running, { to, message: to, at });
    }
    await store.recordStatus(finished, { to: 'CANCELLED', message: '', condition: 'CANCELLED_BY_USER', at });
    expect(await runner.activeJobs([finished, running, 'deleted-long-ago', running])).toEqual([
      running,
      running,
    ]);
    expect(await runner.activeJobs([])).toEqual([]);
  });

  it('should check every https input once, failing the job naming each that cannot be fetched, credentials hidden', async () => {
    const asked: string[] = [];
    const checked = runnerWith({
      httpsInputs: {
        problem: async (url) => {
          asked.push(url);
          return url.includes('gone') ? 'does not exist (HTTP 404)' : undefined;
        },
      },
    });
    const id = await submit({
      name: 'web',
      inputs: [{ source: 'https://example.org/ok.csv' }],
      tasks: [
        { id: 'a', command: 'true', inputs: [{ source: 'https://example.org/gone.csv?sig=s3cret' }] },
        { id: 'b', command: 'true', inputs: [{ source: 'https://example.org/gone.csv?sig=s3cret' }] },
      ],
    });
    const result = await checked.processInputs(id);
    expect(result).toMatchObject({ outcome: 'failed', failure: { condition: 'INVALID_INPUT' } });
    const message = result.outcome === 'failed' ? result.failure.message : '';
    expect(message).toContain('https://example.org/gone.csv?…: does not exist (HTTP 404)');
    expect(message).not.toContain('s3cret');
    expect(asked.sort()).toEqual(['https://example.org/gone.csv?sig=s3cret', 'https://example.org/ok.csv']);
  });

  it('should hand Batch the owner’s own files, a file or a folder, where the task names them', async () => {
    await blobs('uploads').write('alice/datasets/a.csv', 'x', 'text/csv');
    await blobs('uploads').write('alice/refs/one.txt', '1', 'text/plain');
    await blobs('uploads').write('alice/refs/deep/two.txt', '2', 'text/plain');
    await blobs('uploads').write('bob/refs/not-alices.txt', 'b', 'text/plain');
    const id = await submit({
      name: 'files',
      inputs: [{ source: 'files://refs/' }],
      tasks: [{ id: 'a', command: 'wc -l a.csv', inputs: [{ source: 'files://datasets/a.csv' }] }],
    });
    expect(await runner.processInputs(id)).toMatchObject({ outcome: 'done' });
    await runner.stageInputs(id);
    const [task] = (await blobs('jobs').readJson<ComputeTaskSpec[]>(jobLayout.chunk(id, 0)))!;
    // A folder is handed over file by file: a container URL would open every user's files.
    expect(task!.resourceFiles).toEqual([
      {
        source: { url: 'https://acct.blob.core.windows.net/uploads/alice/refs/deep/two.txt?sig=b' },
        target: 'refs/deep/two.txt',
      },
      {
        source: { url: 'https://acct.blob.core.windows.net/uploads/alice/refs/one.txt?sig=b' },
        target: 'refs/one.txt',
      },
      {
        source: { url: 'https://acct.blob.core.windows.net/uploads/alice/datasets/a.csv?sig=b' },
        target: 'a.csv',
      },
    ]);
  });

  it('should refuse a folder input of more files than one may hold, before anything runs', async () => {
    for (let i = 0; i <= MAX_FOLDER_FILES; i++) await blobs('data').write(`many/${i}.txt`, 'x', 'text/plain');
    const id = await submit({
      name: 'many',
      inputs: [{ source: 'blob://data/many/' }],
      tasks: [{ id: 'a', command: 'true' }],
    });
    const result = await runner.processInputs(id);
    expect(result.outcome === 'failed' && result.failure.message).toMatch(
      /blob:\/\/data\/many\/: holds more than 1000 files/,
    );
  });

  it('should keep only secrets’ names in the plan and give Batch their values as of submission', async () => {
    const vault = new FileSecrets(join(mkdtempSync(join(tmpdir(), 'cloudjobs-runner-')), 'secrets.json'));
    const secrets = new Secrets(vault);
    await vault.set('alice', 'api-key', 'sk-first-value');
    await vault.set('alice', 'other', 'other-value');
    jobs = new JobsApi({ ...settings(), secrets });
    runner = runnerWith({ secrets });
    const id = await submit({
      name: 'secretive',
      env: { API_KEY: { secretRef: 'api-key' }, MODE: 'fast' },
      tasks: [
        // A secret's value is used as it is: no macros, nothing the shell expands.
        { id: 'a', command: 'use "$API_KEY"' },
        { id: 'b', command: 'true', env: { OTHER: { secretRef: 'other' }, API_KEY: 'not secret here' } },
      ],
    });
    await runner.processInputs(id);
    expect(await runner.stageInputs(id)).toEqual({ outcome: 'done', chunks: 1 });
    const stored = [...blobs('jobs').blobs.values()].map((blob) => blob.bytes.toString()).join('\n');
    expect(stored).toContain('"secretEnvironment":{"API_KEY":"api-key"}');
    expect(stored).not.toContain('sk-first-value');
    expect(stored).not.toContain('other-value');
    expect(JSON.stringify([...store.jobs.values()])).not.toContain('sk-first-value');

    // Changed after submission: the task gets the value it has when the task goes to Batch.
    await vault.set('alice', 'api-key', 'sk-second-value');
    await vault.remove('alice', 'other');
    const summary = await runner.submitChunks(id, 0, 1);
    expect(summary).toMatchObject({ added: 1, existing: 0 });
    expect(summary.rejected).toEqual([
      {
        taskId: 'b',
        code: 'SECRET_NOT_FOUND',
        message: 'the owner has no secret for OTHER (secret "other") any more',
      },
    ]);
    expect(batch.tasks.get('a')).toMatchObject({ environment: { API_KEY: 'sk-second-value', MODE: 'fast' } });
    expect(batch.tasks.get('a')).not.toHaveProperty('secretEnvironment');
    expect(batch.tasks.has('b')).toBe(false);
  });

  it('should write the Batch plan in chunks of 100, and submit each task once however often it runs', async () => {
    const id = await submit({ name: 'sweep', sweep: { command: 'echo ${index}', range: [1, 250] } });
    await runner.processInputs(id);
    expect(await runner.stageInputs(id)).toEqual({ outcome: 'done', chunks: 3 });
    // What the tasks write goes to the job's own container, the one their write URL reaches.
    expect(blobs(`jobdata-${id}`).created).toBe(true);
    const plan = await blobs('jobs').readJson<ComputeJobSpec>(jobLayout.batchJob(id));
    expect(plan).toMatchObject({ id, poolId: 'cpu' });
    expect(await blobs('jobs').readJson<unknown[]>(jobLayout.chunk(id, 2))).toHaveLength(50);

    expect(await runner.ensureBatchJob(id)).toEqual({ outcome: 'done', created: true });
    expect(await runner.ensureBatchJob(id)).toEqual({ outcome: 'done', created: false });
    expect(await runner.submitChunks(id, 0, 3)).toMatchObject({ added: 250, existing: 0, rejected: [] });
    expect(await runner.submitChunks(id, 1, 2)).toMatchObject({ added: 0, existing: 100 });
    // Batch reads inputs and writes logs with the URLs it was handed.
    const task = batch.tasks.get('1')!;
    expect(task.logs).toMatchObject({
      containerUrl: expect.stringContaining(`/jobdata-${id}?sig=`) as unknown,
    });
    expect(task.outputs?.[0]?.destination.containerUrl ?? task.logs?.containerUrl).toBe(
      task.logs?.containerUrl,
    );
  });

  it('should make the Batch job with the priority the record has then, and keep it in step', async () => {
    const id = await submit({ name: 'urgent', priority: 200, tasks: [{ id: 'a', command: 'true' }] });
    await runner.processInputs(id);
    await runner.stageInputs(id);
    // Changed before Batch has the job: stored, and the job is made with it.
    await jobs.update(alice, id, { priority: 700 }, batch.backend());
    expect(batch.jobs.has(id)).toBe(false);
    await runner.ensureBatchJob(id);
    expect(batch.jobs.get(id)?.priority).toBe(700);
    // Changed while Batch already has it: set there at once.
    await jobs.update(alice, id, { priority: -5 }, batch.backend());
    expect(batch.jobs.get(id)?.priority).toBe(-5);
    // A retry of the step finds the job there and leaves it as the record says.
    await store.setPriority(id, 42);
    expect(await runner.ensureBatchJob(id)).toEqual({ outcome: 'done', created: false });
    expect(batch.jobs.get(id)?.priority).toBe(42);
    // Refused: out of range (naming the field), an unknown field, an ended job.
    await expect(jobs.update(alice, id, { priority: 1001 }, batch.backend())).rejects.toMatchObject({
      status: 400,
      issues: [expect.objectContaining({ path: 'priority' })],
    });
    await expect(
      jobs.update(alice, id, { priority: 1, colour: 'red' }, batch.backend()),
    ).rejects.toMatchObject({
      status: 400,
    });
    await store.recordStatus(id, {
      to: 'CANCELLED',
      condition: 'CANCELLED_BY_USER',
      message: 'x',
      at: new Date().toISOString(),
    });
    await expect(jobs.update(alice, id, { priority: 1 }, batch.backend())).rejects.toMatchObject({
      status: 409,
      code: 'JOB_ENDED',
    });
    expect(batch.jobs.get(id)?.priority).toBe(42);
  });

  it('should hold the job BLOCKED on what Batch cannot do yet, retry passing faults, and fail on the rest', async () => {
    const id = await submit({ name: 'one', tasks: [{ id: 'a', command: 'true' }] });
    await runner.processInputs(id);
    await runner.stageInputs(id);
    batch.refuse = new BlockedError('BATCH_POOL_NOT_FOUND', 'pool cpu does not exist', {
      retryAfterMs: 5000,
    });
    expect(await runner.ensureBatchJob(id)).toEqual({
      outcome: 'blocked',
      code: 'BATCH_POOL_NOT_FOUND',
      message: 'pool cpu does not exist',
      retryAfterMs: 5000,
    });
    batch.refuse = new TransientError('BATCH_UNAVAILABLE', 'try again');
    await expect(runner.ensureBatchJob(id)).rejects.toMatchObject({ code: 'BATCH_UNAVAILABLE' });
    batch.refuse = new ValidationError('the pool has no such VM size', [], 'BATCH_BAD_REQUEST');
    expect(await runner.ensureBatchJob(id)).toEqual({
      outcome: 'failed',
      failure: { condition: 'BATCH_ERROR', message: 'BATCH_BAD_REQUEST: the pool has no such VM size' },
    });
  });

  it('should archive what the tasks uploaded as the outputs manifest', async () => {
    const id = await submit({ name: 'one', tasks: [{ id: 'a', command: 'true' }] });
    await blobs('jobs').write(
      `${jobLayout.taskOutput(id, 'a')}/results/r.json`,
      '{"ok":true}',
      'application/json',
    );
    await blobs('jobs').write(`${jobLayout.taskOutput(id, 'a')}/log.txt`, 'hello', 'text/plain');
    expect(await runner.archiveOutputs(id)).toEqual({ files: 2, bytes: 16 });
    expect(await blobs('jobs').readJson(jobLayout.outputsManifest(id))).toMatchObject({
      bytes: 16,
      files: [
        { path: 'a/log.txt', taskId: 'a', size: 5, contentType: 'text/plain' },
        { path: 'a/results/r.json', taskId: 'a', size: 11 },
      ],
      archivedAt: '2026-12-01T10:00:00.000Z',
    });
  });
});

import { dataContainer } from '../../shared/domain/jobLayout.js';
import { randomBytes } from 'node:crypto';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tablesOf } from '../support/storage.js';
import { SasLocations } from '../../shared/adapters/sasLocations.js';
import { azureBlobContainers } from '../../shared/adapters/azureBlobs.js';
import { IdentityLocations } from '../../shared/adapters/identityLocations.js';
import { TableJobStore } from '../../shared/adapters/tableJobStore.js';
import { DEFAULT_LIMITS } from '../../shared/domain/jobSpec.js';
import type { Caller } from '../../shared/identity.js';
import { JobRunner, type JobRunnerOptions } from '../../shared/jobs/jobRunner.js';
import { JobsApi } from '../../shared/jobs/jobsApi.js';
import { startLocalBatch, type LocalBatchFixture } from '../support/localBatch.js';
import { waitFor } from '../support/waitFor.js';

const hex = (n: number) => randomBytes(n).toString('hex');
const alice: Caller = { owner: 'alice', admin: false, via: 'token' };

describe('running a stored job on the local Batch service', () => {
  let fixture: LocalBatchFixture;
  const pool = `pool-${hex(3)}`;

  beforeAll(async () => {
    fixture = await startLocalBatch();
    await fixture.readyPool(pool, 8);
  });
  afterAll(async () => {
    await fixture.dispose();
  });

  /** A store, API and runner on their own tables and containers, Batch reaching data through `locations`. */
  async function setup(locations: (service: BlobServiceClient) => JobRunnerOptions['locations']) {
    const connectionString = inject('azurite');
    const service = BlobServiceClient.fromConnectionString(connectionString);
    const prefix = `r${hex(4)}`;
    const jobsContainer = service.getContainerClient(`${prefix}-jobs`);
    const logs = `${prefix}-logs`;
    await jobsContainer.create();
    await service.getContainerClient(logs).create();
    const store = new TableJobStore({
      tables: tablesOf(connectionString),
      tablePrefix: prefix,
      specs: jobsContainer,
    });
    const options = { store, limits: DEFAULT_LIMITS, defaultPool: pool, defaultLogsContainer: logs };
    const jobs = new JobsApi({ ...options });
    const runner = new JobRunner({
      ...options,
      compute: fixture.adapter,
      jobs: azureBlobContainers(service)(jobsContainer.containerName),
      containers: azureBlobContainers(service),
      appContainers: { jobs: jobsContainer.containerName, others: [logs] },
      uploadsContainer: `${prefix}-uploads`,
      locations: locations(service),
    });
    return { service, store, jobs, runner, jobsContainer, logs };
  }

  it('should record its tasks, submit its chunks (twice, harmlessly), and run it to the end', async () => {
    const { service, store, jobs, runner } = await setup(
      (service) => (expiresOn) => SasLocations.create(service, expiresOn),
    );
    const body = {
      name: 'gather',
      taskIdStyle: 'int',
      tasks: [
        ...Array.from({ length: 120 }, (_, i) => ({ command: `echo ${i + 1} > n.txt`, outputs: ['n.txt'] })),
        { command: 'echo all', dependsOnRange: [1, 120] },
      ],
    };
    const { job } = await jobs.submit(alice, body, Buffer.from(JSON.stringify(body)));

    const prepared = await runner.processInputs(job.id);
    expect(prepared).toEqual({
      outcome: 'done',
      job: {
        taskCount: 121,
        pool,
        owner: 'alice',
        completeWhenTasksFinish: true,
        allowCancelledTasks: false,
      },
    });
    expect(await runner.stageInputs(job.id)).toEqual({ outcome: 'done', chunks: 2 });
    const initial = await store.listTasks(job.id, { limit: 200 });
    expect(initial.items.filter((t) => t.status === 'QUEUED')).toHaveLength(120);
    expect(initial.items.find((t) => t.id === '121')).toMatchObject({ status: 'PENDING' });
    // Preparing again (a replayed activity) keeps what is recorded.
    await runner.processInputs(job.id);

    expect(await runner.ensureBatchJob(job.id)).toEqual({ outcome: 'done', created: true });
    expect(await runner.ensureBatchJob(job.id)).toEqual({ outcome: 'done', created: false });
    const reports = [
      await runner.submitChunks(job.id, 0, 1),
      await runner.submitChunks(job.id, 1, 2),
      await runner.submitChunks(job.id, 0, 2),
    ];
    expect(reports.map((r) => [r.added, r.existing])).toEqual([
      [100, 0],
      [21, 0],
      [0, 121],
    ]);
    await runner.sealBatchJob(job.id);
    await waitFor(
      async () => ((await fixture.adapter.getJob(job.id))?.state === 'completed' ? true : undefined),
      { timeoutMs: 90_000 },
    );
    const counts = await fixture.adapter.taskCounts(job.id);
    expect(counts).toMatchObject({ completed: 121, succeeded: 121, failed: 0 });
    // What the tasks wrote is in the job's own container.
    const output = await service
      .getContainerClient(dataContainer(job.id))
      .getBlobClient(`${job.id}/tasks/57/n.txt`)
      .downloadToBuffer();
    expect(output.toString()).toBe('57\n');

    const settled = await runner.settleTasks(job.id, 'SKIPPED');
    expect(settled.counts).toMatchObject({ SUCCEEDED: 121, PENDING: 0, QUEUED: 0, SKIPPED: 0 });
    const bytes = Array.from({ length: 120 }, (_, i) => `${i + 1}\n`.length).reduce((a, b) => a + b);
    expect(await runner.archiveOutputs(job.id)).toEqual({ files: 120, bytes });
  });

  it("should run a workflow with the pools' identity, handing Batch no SAS at all", async () => {
    const identity =
      '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-jobs/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-pool';
    const { service, jobs, runner } = await setup(
      (service) => () => Promise.resolve(new IdentityLocations(service, identity)),
    );
    const body = {
      name: 'relay',
      tasks: [
        { id: 'make', command: 'echo relayed > baton.txt', outputs: ['baton.txt'] },
        { id: 'take', command: 'cat baton.txt', inputs: [{ fromTask: 'make', path: 'baton.txt' }] },
      ],
    };
    const { job } = await jobs.submit(alice, body, Buffer.from(JSON.stringify(body)));
    expect(await runner.processInputs(job.id)).toMatchObject({ outcome: 'done' });
    expect(await runner.stageInputs(job.id)).toEqual({ outcome: 'done', chunks: 1 });
    expect(await runner.ensureBatchJob(job.id)).toMatchObject({ outcome: 'done' });
    expect(await runner.submitChunks(job.id, 0, 1)).toMatchObject({ added: 2 });
    await runner.sealBatchJob(job.id);
    await waitFor(
      async () => ((await fixture.adapter.getJob(job.id))?.state === 'completed' ? true : undefined),
      { timeoutMs: 60_000 },
    );
    expect(await fixture.adapter.taskCounts(job.id)).toMatchObject({ succeeded: 2, failed: 0 });
    const log = service
      .getContainerClient(dataContainer(job.id))
      .getBlobClient(`${job.id}/logs/take/stdout.txt`);
    expect((await log.downloadToBuffer()).toString()).toBe('relayed\n');

    // What Batch was asked to do names the identity wherever it reaches storage, and holds no SAS.
    const client = new BatchServiceClient(
      new BatchSharedKeyCredentials(fixture.batch.accountName, fixture.batch.accountKey),
      fixture.batch.url,
    );
    const take = await client.task.get(job.id, 'take');
    const reaches = [
      ...(take.resourceFiles ?? []).map((file) => ({
        url: file.storageContainerUrl ?? file.httpUrl,
        identity: file.identityReference?.resourceId,
      })),
      ...(take.outputFiles ?? []).map((file) => ({
        url: file.destination.container?.containerUrl,
        identity: file.destination.container?.identityReference?.resourceId,
      })),
    ];
    expect(reaches.length).toBeGreaterThanOrEqual(2);
    for (const reach of reaches) {
      expect(reach.identity).toBe(identity);
      expect(reach.url).not.toMatch(/[?&]sig=/);
    }
  });
});

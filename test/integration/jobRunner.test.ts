import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SasLocations } from '../../shared/adapters/sasLocations.js';
import { TableJobStore } from '../../shared/adapters/tableJobStore.js';
import { DEFAULT_LIMITS } from '../../shared/domain/jobSpec.js';
import type { Caller } from '../../shared/identity.js';
import { JobRunner } from '../../shared/jobs/jobRunner.js';
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
    await fixture.adapter.createPool({
      id: pool,
      vmSize: 'standard_d2s_v3',
      dedicatedNodes: 1,
      slotsPerNode: 8,
    });
    await waitFor(async () =>
      (await fixture.adapter.getPool(pool))?.allocationState === 'steady' ? true : undefined,
    );
  });
  afterAll(async () => {
    await fixture.dispose();
  });

  it('should record its tasks, submit its chunks (twice, harmlessly), and run it to the end', async () => {
    const connectionString = inject('azurite');
    const service = BlobServiceClient.fromConnectionString(connectionString);
    const prefix = `r${hex(4)}`;
    const jobsContainer = service.getContainerClient(`${prefix}-jobs`);
    const logs = `${prefix}-logs`;
    await jobsContainer.create();
    await service.getContainerClient(logs).create();
    const store = new TableJobStore({ connectionString, tablePrefix: prefix, specs: jobsContainer });
    const options = { store, limits: DEFAULT_LIMITS, defaultPool: pool, defaultLogsContainer: logs };
    const jobs = new JobsApi({ ...options, dataContainer: jobsContainer.containerName });
    const runner = new JobRunner({
      ...options,
      compute: fixture.adapter,
      jobs: jobsContainer,
      locations: (expiresOn) => SasLocations.create(service, expiresOn),
    });
    const body = {
      name: 'gather',
      taskIdStyle: 'int',
      tasks: [
        ...Array.from({ length: 120 }, (_, i) => ({ command: `echo ${i + 1} > n.txt`, outputs: ['n.txt'] })),
        { command: 'echo all', dependsOnRange: [1, 120] },
      ],
    };
    const { job } = await jobs.submit(alice, body, Buffer.from(JSON.stringify(body)));

    const prepared = await runner.prepare(job.id);
    expect(prepared).toEqual({ taskCount: 121, chunks: 2, pool, completeWhenTasksFinish: true });
    const initial = await store.listTasks(job.id, { limit: 200 });
    expect(initial.items.filter((t) => t.status === 'QUEUED')).toHaveLength(120);
    expect(initial.items.find((t) => t.id === '121')).toMatchObject({ status: 'PENDING' });
    // Preparing again (a replayed activity) keeps what is recorded.
    await runner.prepare(job.id);

    expect(await runner.ensureBatchJob(job.id)).toBe('created');
    expect(await runner.ensureBatchJob(job.id)).toBe('exists');
    const reports = [
      await runner.submitChunk(job.id, 0),
      await runner.submitChunk(job.id, 1),
      await runner.submitChunk(job.id, 1),
    ];
    expect(reports.map((r) => [r.added, r.existing])).toEqual([
      [100, 0],
      [21, 0],
      [0, 21],
    ]);
    await runner.sealBatchJob(job.id);
    await waitFor(
      async () => ((await fixture.adapter.getJob(job.id))?.state === 'completed' ? true : undefined),
      { timeoutMs: 90_000 },
    );
    const counts = await fixture.adapter.taskCounts(job.id);
    expect(counts).toMatchObject({ completed: 121, succeeded: 121, failed: 0 });
    const output = await jobsContainer.getBlobClient(`${job.id}/tasks/57/n.txt`).downloadToBuffer();
    expect(output.toString()).toBe('57\n');
  });
});

import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { SasLocations } from '../../shared/adapters/sasLocations.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expandJob } from '../../shared/domain/expand.js';
import { DEFAULT_LIMITS, jobSpecSchema } from '../../shared/domain/jobSpec.js';
import { planBatchJob } from '../../shared/domain/batchPlan.js';
import { startLocalBatch, type LocalBatchFixture } from '../support/localBatch.js';
import { waitFor } from '../support/waitFor.js';

const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

describe('a planned job on the local Batch service', () => {
  let fixture: LocalBatchFixture;
  const pool = unique('pool');
  const blobs = () => BlobServiceClient.fromConnectionString(inject('azurite'));

  beforeAll(async () => {
    fixture = await startLocalBatch();
    await fixture.readyPool(pool, 2);
  });
  afterAll(async () => {
    await fixture.dispose();
  });

  it('should sign URLs that read blobs and write containers, and nothing more', async () => {
    const service = blobs();
    const container = unique('signed');
    await service.getContainerClient(container).create();
    await service.getContainerClient(container).getBlockBlobClient('a.txt').upload('a', 1);
    const locations = await SasLocations.create(service, new Date(Date.now() + 3600_000));
    const blobUrl = locations.blobUrl(container, 'a.txt');
    expect(await (await fetch(blobUrl)).text()).toBe('a');
    expect(
      (await fetch(blobUrl, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'b' })).status,
    ).toBe(403);
    const containerUrl = new URL(locations.containerUrl(container));
    containerUrl.pathname += '/b.txt';
    expect(
      (await fetch(containerUrl, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'b' }))
        .status,
    ).toBe(201);
    const other = locations.blobUrl(container, 'a.txt').replace('/a.txt', '/b.txt');
    expect((await fetch(other)).status).toBe(403);
  });

  it('should pass a file from task to task, run commands under a shell, and lay out outputs and logs', async () => {
    const service = blobs();
    const jobsContainer = unique('jobs');
    const logsContainer = unique('logs');
    const dataContainer = unique('data');
    for (const name of [jobsContainer, logsContainer, dataContainer])
      await service.getContainerClient(name).create();
    await service.getContainerClient(dataContainer).getBlockBlobClient('in/greeting.txt').upload('hello', 5);
    const locations = await SasLocations.create(service, new Date(Date.now() + 3600_000));
    const jobId = unique('wf');
    const spec = jobSpecSchema.parse({
      name: 'workflow',
      pool,
      logs: { container: logsContainer },
      inputs: [{ source: `blob://${dataContainer}/in/greeting.txt`, target: 'greeting.txt' }],
      tasks: [
        {
          id: 'prep',
          command:
            'mkdir -p results && cat greeting.txt > results/r.json && echo "it\'s done" | tee done.txt',
          outputs: ['results/**', 'done.txt'],
        },
        {
          id: 'train',
          command: 'cat in/r.json; echo " from $AZ_BATCH_TASK_ID"',
          inputs: [{ fromTask: 'prep', path: 'results/r.json', target: 'in/r.json' }],
        },
        {
          // The working-directory macros are paths the command can use: inputs are in ${inputDir},
          // and what lands in ${outputDir} comes back undeclared (env values included).
          id: 'dirs',
          command:
            'cat ${inputDir}/greeting.txt > ${outputDir}/copy.txt && cd / && echo "$WHERE" > "${outputDir}/where.txt"',
          env: { WHERE: "${outputDir}/it's here" },
        },
      ],
    });
    const expanded = expandJob(spec, {
      jobId,
      owner: 'alice',
      defaultPool: pool,
      defaultLogsContainer: logsContainer,
      limits: DEFAULT_LIMITS,
    });
    const plan = planBatchJob(jobId, expanded, locations, {
      dataContainer: jobsContainer,
      uploads: { container: 'uploads', folder: 'alice/' },
    });
    expect(plan.tasks[0]!.commandLine).toMatch(/^\/bin\/sh -c '/);
    await fixture.adapter.ensureJob(plan.job);
    expect(await fixture.adapter.submitTasks(jobId, plan.tasks)).toMatchObject({ added: 3, rejected: [] });
    await fixture.adapter.sealJob(jobId);
    await waitFor(
      async () => ((await fixture.adapter.getJob(jobId))?.state === 'completed' ? true : undefined),
      { timeoutMs: 60_000 },
    );

    const train = await fixture.adapter.getTask(jobId, 'train');
    expect(train).toMatchObject({ state: 'completed', result: 'success' });
    const names: string[] = [];
    // The job's own container holds what its tasks wrote: outputs under tasks/, logs beside them.
    for await (const blob of service
      .getContainerClient(jobsContainer)
      .listBlobsFlat({ prefix: `${jobId}/tasks/` }))
      names.push(blob.name);
    expect(names.sort()).toEqual([
      `${jobId}/tasks/dirs/outputs/copy.txt`,
      `${jobId}/tasks/dirs/outputs/where.txt`,
      `${jobId}/tasks/prep/done.txt`,
      `${jobId}/tasks/prep/results/r.json`,
    ]);
    const text = async (container: string, name: string) =>
      (await service.getContainerClient(container).getBlobClient(name).downloadToBuffer()).toString();
    expect(await text(jobsContainer, `${jobId}/tasks/dirs/outputs/copy.txt`)).toBe('hello');
    // Absolute: the command had left its working directory when it wrote it.
    expect(await text(jobsContainer, `${jobId}/tasks/dirs/outputs/where.txt`)).toMatch(
      /^\/.+\/outputs\/it's here\n$/,
    );
    expect(await text(jobsContainer, `${jobId}/tasks/prep/done.txt`)).toBe("it's done\n");
    expect(await text(jobsContainer, `${jobId}/logs/train/stdout.txt`)).toBe('hello from train\n');
  });
});

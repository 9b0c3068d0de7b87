import { BlobServiceClient, type BlockBlobClient } from '@azure/storage-blob';
import { describe, expect, inject, it } from 'vitest';
import { problemSchema, uploadUrlSchema } from '../../shared/http/openapi.js';
import { ENDED, jobClient, type JobView } from '../support/jobClient.js';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';

const ALICE = 'alice-token-0123456789abcdef';

// Every blob event is delivered twice here: the same manifest must still make one job.
describe.concurrent('the blob inbox', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: { CLOUDJOBS_API_TOKENS: `alice=${ALICE}`, CLOUDJOBS_TABLE_PREFIX: uniqueName('i') },
    args: ['--delivery-faults', JSON.stringify({ eventGridDuplicateRate: 1 })],
  });
  const api = jobClient(runtime, ALICE);
  const blobs = () => BlobServiceClient.fromConnectionString(runtime.info.connectionString);
  const jobsNamed = async (name: string) =>
    (await api.json<{ items: JobView[] }>('GET', `/jobs?name=${name}`)).body.items;

  it('should start one job from a JSON manifest put through the upload URL, and run it', async () => {
    const name = uniqueName('inboxjson');
    const answer = await api.json('GET', `/inbox/upload-url?file=${name}.json`);
    expect(answer.status).toBe(200);
    const upload = uploadUrlSchema.parse(answer.body);
    const manifest = JSON.stringify({ name, tasks: [{ id: 'hello', command: 'echo from the inbox' }] });
    const put = await fetch(upload.url, {
      method: 'PUT',
      headers: { 'x-ms-blob-type': 'BlockBlob', 'content-type': 'application/json' },
      body: manifest,
    });
    expect(put.status).toBe(201);
    const [job] = await waitFor(async () => {
      const found = await jobsNamed(name);
      return found.length > 0 ? found : undefined;
    });
    const done = await api.until(job!.id, ENDED);
    expect(done).toMatchObject({ status: 'FINISHED', owner: 'alice' });
    expect((await api.call('GET', `/jobs/${job!.id}/tasks/hello/logs/stdout`)).text).toBe('from the inbox\n');
    // Both deliveries of the event have been handled by now; there is still one job.
    expect(await jobsNamed(name)).toHaveLength(1);
  });

  it('should take YAML too', async () => {
    const name = uniqueName('inboxyaml');
    const yaml = `name: ${name}\ntasks:\n  - id: a\n    command: echo yaml\n  - id: b\n    command: echo after\n    dependsOn: [a]\n`;
    await blobs()
      .getContainerClient('job-inbox')
      .getBlockBlobClient(`alice/${name}.yaml`)
      .upload(yaml, Buffer.byteLength(yaml));
    const [job] = await waitFor(async () => {
      const found = await jobsNamed(name);
      return found.length > 0 ? found : undefined;
    });
    expect((await api.until(job!.id, ENDED)).status).toBe('FINISHED');
    expect(job!.taskCount).toBe(2);
    // A job from the inbox is resubmitted from the manifest it came in, as any other.
    const again = await api.json<{ id: string; resubmittedFrom: string; taskCount: number }>(
      'POST',
      `/jobs/${job!.id}/resubmit`,
      { tasks: 'all' },
    );
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ resubmittedFrom: job!.id, taskCount: 2 });
    expect((await api.until(again.body.id, ENDED)).status).toBe('FINISHED');
  });

  it('should move an invalid manifest aside with the problem document beside it, and start nothing', async () => {
    const name = uniqueName('inboxbad');
    const manifest = JSON.stringify({
      name,
      tasks: [{ id: 'a', command: 'x', dependsOn: ['nope'] }],
      extra: 1,
    });
    const service = blobs();
    const inboxBlob: BlockBlobClient = service
      .getContainerClient('job-inbox')
      .getBlockBlobClient(`alice/${name}.json`);
    await inboxBlob.upload(manifest, Buffer.byteLength(manifest));
    const rejected = service.getContainerClient('job-inbox-rejected');
    const error = await waitFor(async () => {
      const blob = rejected.getBlobClient(`alice/${name}.json.error.json`);
      return (await blob.exists())
        ? (JSON.parse((await blob.downloadToBuffer()).toString()) as unknown)
        : undefined;
    });
    const problem = problemSchema.parse(error);
    expect(problem).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(problem.errors?.map((e) => e.path)).toEqual(expect.arrayContaining(['extra']));
    const kept = await rejected.getBlobClient(`alice/${name}.json`).downloadToBuffer();
    expect(kept.toString()).toBe(manifest);
    await waitFor(async () => ((await inboxBlob.exists()) ? undefined : true), {
      what: 'the inbox copy to go',
    });
    expect(await jobsNamed(name)).toEqual([]);
  });
});

import { unzipSync, strFromU8 } from 'fflate';
import { beforeEach, describe, expect, it } from 'vitest';
import { dataContainer, jobLayout } from '../../../shared/domain/jobLayout.js';
import { DEFAULT_LIMITS } from '../../../shared/domain/jobSpec.js';
import { NotFoundError, ValidationError } from '../../../shared/errors.js';
import type { Caller } from '../../../shared/identity.js';
import { JobFiles } from '../../../shared/jobs/jobFiles.js';
import { JobsApi } from '../../../shared/jobs/jobsApi.js';
import { MemoryJobStore } from '../../support/memoryStores.js';
import { memoryBlobContainers } from '../../support/memoryBlobs.js';

const alice: Caller = { owner: 'alice', admin: false, via: 'token' };
const bob: Caller = { owner: 'bob', admin: false, via: 'token' };

const bytesOf = async (stream: NodeJS.ReadableStream) => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return new Uint8Array(Buffer.concat(chunks));
};

describe('a job’s outputs as one zip', () => {
  let files: JobFiles;
  let blobs: ReturnType<typeof memoryBlobContainers>;
  let id: string;

  beforeEach(async () => {
    const store = new MemoryJobStore();
    blobs = memoryBlobContainers();
    const jobs = new JobsApi({
      store,
      limits: DEFAULT_LIMITS,
      defaultPool: 'cpu',
      defaultLogsContainer: 'job-logs',
    });
    files = new JobFiles({
      jobs,
      compute: { getTask: () => Promise.resolve(undefined), readTaskFile: () => Promise.resolve(undefined) },
      followMs: 1000,
      jobsContainer: 'jobs',
      blobs,
    });
    const body = {
      name: 'z',
      tasks: [
        { id: 'a', command: 'true' },
        { id: 'b', command: 'true' },
      ],
    };
    id = (await jobs.submit(alice, body, Buffer.from(JSON.stringify(body)))).job.id;
    // Where the tasks of a job wrote: its own container.
    const outputs = blobs(dataContainer(id));
    await outputs.write(`${jobLayout.taskOutputs(id)}a/one.txt`, 'alpha', 'text/plain');
    await outputs.write(`${jobLayout.taskOutputs(id)}b/deep/two.txt`, 'beta', 'text/plain');
    await outputs.write(
      `${jobLayout.taskOutputs(id)}b/three.bin`,
      Buffer.from([0, 1, 2]),
      'application/octet-stream',
    );
  });

  const entries = async (query: { task?: string; prefix?: string }) => {
    const zip = await files.outputsZip(alice, id, query);
    return Object.fromEntries(
      Object.entries(unzipSync(await bytesOf(zip.stream))).map(([name, data]) => [name, strFromU8(data)]),
    );
  };

  it('should hold every output at its listed path, or one task’s, or those under a prefix', async () => {
    expect(await entries({})).toEqual({
      'a/one.txt': 'alpha',
      'b/deep/two.txt': 'beta',
      'b/three.bin': '\u0000\u0001\u0002',
    });
    expect(Object.keys(await entries({ task: 'b' })).sort()).toEqual(['b/deep/two.txt', 'b/three.bin']);
    expect(Object.keys(await entries({ prefix: 'b/deep/' }))).toEqual(['b/deep/two.txt']);
    expect((await files.outputsZip(alice, id, { task: 'a' })).fileName).toBe(`${id}-a.zip`);
  });

  it('should leave out a file the archive lists but storage no longer has, rather than break the zip', async () => {
    const listed = await files.outputs(alice, id);
    await blobs('jobs').writeJson(jobLayout.outputsManifest(id), {
      files: listed.files,
      bytes: listed.bytes,
    });
    await blobs(dataContainer(id)).delete(`${jobLayout.taskOutputs(id)}a/one.txt`);
    const zip = await files.outputsZip(alice, id, {});
    expect(Object.keys(unzipSync(await bytesOf(zip.stream))).sort()).toEqual([
      'b/deep/two.txt',
      'b/three.bin',
    ]);
  });

  it('should refuse a prefix that climbs out, say when nothing matches, and hide others’ jobs', async () => {
    await expect(files.outputsZip(alice, id, { prefix: '../x' })).rejects.toThrow(ValidationError);
    await expect(files.outputsZip(alice, id, { task: 'c' })).rejects.toThrow(/has no outputs of task c/);
    await expect(files.outputsZip(bob, id, {})).rejects.toThrow(NotFoundError);
  });
});

import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, inject, it } from 'vitest';
import { tablesOf } from '../support/storage.js';
import { TableJobStore } from '../../shared/adapters/tableJobStore.js';
import { DEFAULT_LIMITS } from '../../shared/domain/jobSpec.js';
import { isAppError } from '../../shared/errors.js';
import type { Caller } from '../../shared/identity.js';
import { JobsApi } from '../../shared/jobs/jobsApi.js';

function api(): { jobs: JobsApi; store: TableJobStore } {
  const connectionString = inject('azurite');
  const prefix = `a${randomBytes(4).toString('hex')}`;
  const store = new TableJobStore({
    tables: tablesOf(connectionString),
    tablePrefix: prefix,
    specs: BlobServiceClient.fromConnectionString(connectionString).getContainerClient(`${prefix}-specs`),
  });
  return {
    store,
    jobs: new JobsApi({
      store,
      limits: DEFAULT_LIMITS,
      defaultPool: 'local',
      defaultLogsContainer: 'job-logs',
    }),
  };
}

const alice: Caller = { owner: 'alice', admin: false, via: 'token' };
const bob: Caller = { owner: 'bob', admin: false, via: 'token' };
const body = { name: 'j', tasks: [{ id: 'a', command: 'echo a' }] };

describe('jobs API against the store', () => {
  it('should forget an ended job with its records, and only for its owner', async () => {
    const { jobs, store } = api();
    const { job } = await jobs.submit(alice, body, Buffer.from(JSON.stringify(body)));
    await store.putTasks(job.id, [{ id: 'a', status: 'PENDING' }]);
    await store.recordStatus(job.id, {
      to: 'CANCELLED',
      message: 'by user',
      condition: 'CANCELLED_BY_USER',
      at: new Date().toISOString(),
    });
    await expect(jobs.delete(bob, job.id)).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
    await jobs.delete(alice, job.id);
    expect(await store.getJob(job.id)).toBeUndefined();
    const again = await jobs.delete(alice, job.id).catch((error: unknown) => error);
    expect(isAppError(again) && again.code).toBe('JOB_NOT_FOUND');
  });

  it('should expand ${jobId} to the id the job is stored under', async () => {
    const { jobs, store } = api();
    const withMacro = { name: 'm', tasks: [{ id: 'a', command: 'echo ${jobId} ${owner}' }] };
    const { job } = await jobs.submit(alice, withMacro, Buffer.from(JSON.stringify(withMacro)));
    expect(await store.getSpec(job.id)).toEqual(withMacro);
    expect(job.owner).toBe('alice');
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import { jobLayout } from '../../../shared/domain/jobLayout.js';
import { DEFAULT_LIMITS } from '../../../shared/domain/jobSpec.js';
import type { Caller } from '../../../shared/identity.js';
import { JobCleanup, type OrchestrationHistory } from '../../../shared/jobs/jobCleanup.js';
import { JobsApi } from '../../../shared/jobs/jobsApi.js';
import { MemoryDeliveryStore, MemoryJobStore, MemorySubscriptionStore } from '../../support/memoryStores.js';
import { memoryBlobContainers } from '../../support/memoryBlobs.js';

const alice: Caller = { owner: 'alice', admin: false, via: 'token' };

/** Durable as the clean-up sees it: instances that exist, and whether the job's still runs. */
class History implements OrchestrationHistory {
  readonly instances = new Set<string>();
  readonly purged: string[] = [];
  runningJobs = new Set<string>();
  running(jobId: string) {
    return Promise.resolve(this.runningJobs.has(jobId));
  }
  purge(instanceId: string) {
    this.purged.push(instanceId);
    return Promise.resolve(this.instances.delete(instanceId));
  }
}

describe('forgetting ended jobs whole', () => {
  let store: MemoryJobStore;
  let blobs: ReturnType<typeof memoryBlobContainers>;
  let jobs: JobsApi;
  let cleanup: JobCleanup;
  let history: History;
  let now: Date;
  const deletedOnBatch: string[] = [];
  const forgotten: string[] = [];
  let subscriptions: MemorySubscriptionStore;

  beforeEach(() => {
    store = new MemoryJobStore();
    blobs = memoryBlobContainers();
    history = new History();
    subscriptions = new MemorySubscriptionStore();
    now = new Date('2026-12-10T00:00:00Z');
    jobs = new JobsApi({
      store,
      limits: DEFAULT_LIMITS,
      defaultPool: 'cpu',
      defaultLogsContainer: 'job-logs',
    });
    cleanup = new JobCleanup({
      store,
      blobs,
      jobsContainer: 'jobs',
      defaultLogsContainer: 'job-logs',
      compute: { deleteJob: (id) => Promise.resolve(void deletedOnBatch.push(id)) },
      chunksPerSubOrchestration: 2,
      forgetNotifications: (_owner, id) => Promise.resolve(void forgotten.push(id)),
      subscriptions,
      deliveries: new MemoryDeliveryStore(),
      now: () => now,
      settleMs: 0,
    });
  });

  /** A job of Alice's that ran 5 chunks (three sub-orchestrations) and ended at `at`. */
  const ended = async (at: string, status: 'FINISHED' | 'RUNNING' = 'FINISHED') => {
    const body = { name: 'j', logs: { container: 'my-logs' }, tasks: [{ id: 'a', command: 'true' }] };
    const id = (await jobs.submit(alice, body, Buffer.from(JSON.stringify(body)))).job.id;
    for (const to of [
      'PROCESSING_INPUTS',
      'STAGING_INPUTS',
      'STAGING_JOB',
      'SUBMITTING_JOB',
      'RUNNING',
    ] as const)
      await store.recordStatus(id, { to, message: to, at });
    if (status === 'FINISHED') {
      await store.recordStatus(id, { to: 'ARCHIVING', message: '', at });
      await store.recordStatus(id, { to: 'FINISHED', message: '', condition: 'NORMAL_COMPLETION', at });
    }
    const files = blobs('jobs');
    await files.writeJson(jobLayout.files(id), { logs: { container: 'my-logs', folder: 'logs' } });
    for (let i = 0; i < 5; i++) await files.writeJson(jobLayout.chunk(id, i), []);
    await files.write(`${jobLayout.taskOutput(id, 'a')}/out.txt`, 'x', 'text/plain');
    await blobs('my-logs').write(`${jobLayout.taskLogs(id, 'logs', 'a')}/stdout.txt`, 'hi', 'text/plain');
    for (const instance of [id, `${id}-submit-0`, `${id}-submit-1`, `${id}-submit-2`])
      history.instances.add(instance);
    return id;
  };
  const blobNames = () =>
    [...blobs.all.values()].flatMap((container) =>
      [...container.blobs.keys()].map((n) => `${container.name}/${n}`),
    );

  it('should take its blobs, Batch job and orchestration history, then its records, and nothing of another job', async () => {
    const gone = await ended('2026-12-01T00:00:00Z');
    const kept = await ended('2026-12-01T00:00:00Z');
    await jobs.delete(alice, gone, async (job) => cleanup.remove(job, history));
    expect(blobNames().filter((name) => name.includes(gone))).toEqual([]);
    expect(blobNames().filter((name) => name.includes(kept)).length).toBe(8);
    expect(deletedOnBatch).toContain(gone);
    expect([...history.instances].filter((i) => i.startsWith(gone))).toEqual([]);
    expect(history.instances.has(kept)).toBe(true);
    expect(await store.getJob(gone)).toBeUndefined();
    expect(forgotten).toContain(gone);
  });

  it('should finish a clean-up cut short when asked again', async () => {
    const id = await ended('2026-12-01T00:00:00Z');
    // A first try got as far as the sub-orchestrations and the logs.
    history.instances.delete(`${id}-submit-0`);
    await blobs('my-logs').delete(`${jobLayout.taskLogs(id, 'logs', 'a')}/stdout.txt`);
    const job = (await store.getJob(id))!;
    await cleanup.remove(job, history);
    expect([...history.instances]).toEqual([]);
    expect(blobNames()).toEqual([]);
    expect(await store.getJob(id)).toBeUndefined();
  });

  it('should refuse a job that runs, or whose orchestration is still completing, and keep everything', async () => {
    const running = await ended('2026-12-01T00:00:00Z', 'RUNNING');
    await expect(cleanup.remove((await store.getJob(running))!, history)).rejects.toMatchObject({
      code: 'JOB_NOT_FINISHED',
    });
    const finishing = await ended('2026-12-01T00:00:00Z');
    history.runningJobs.add(finishing);
    await expect(cleanup.remove((await store.getJob(finishing))!, history)).rejects.toMatchObject({
      code: 'JOB_NOT_FINISHED',
    });
    expect(blobNames().length).toBe(16);
    expect(history.purged).toEqual([]);
  });

  it('should forget by age only jobs that ended long enough ago, and expired subscriptions', async () => {
    const old = await ended('2026-11-01T00:00:00Z');
    const young = await ended('2026-12-09T00:00:00Z');
    const running = await ended('2026-11-01T00:00:00Z', 'RUNNING');
    await subscriptions.create({
      id: 'old-sub',
      owner: 'alice',
      target: { kind: 'webhook', url: 'https://example.org/h' },
      events: ['job.*'],
      enabled: true,
      createdAt: '2026-11-01T00:00:00Z',
      expiresAt: '2026-11-02T00:00:00Z',
    } as Parameters<MemorySubscriptionStore['create']>[0]);
    const report = await cleanup.sweep(30, history);
    expect(report).toMatchObject({ jobs: 1, subscriptions: 1 });
    expect(await store.getJob(old)).toBeUndefined();
    expect(await store.getJob(young)).toBeDefined();
    expect(await store.getJob(running)).toBeDefined();
    expect(await subscriptions.get('alice', 'old-sub')).toBeUndefined();
    expect(blobNames().filter((name) => name.includes(old))).toEqual([]);
  });
});

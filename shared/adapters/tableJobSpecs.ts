import { randomUUID } from 'node:crypto';
import type { TableClient, TableEntityResult } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import { ConflictError, NotFoundError, TransientError } from '../errors.js';
import { isFinal } from '../domain/lifecycle.js';
import type { AppendedTasks, AppendTasksRequest } from '../store/jobStore.js';
import { toJob } from './tableJobRows.js';
import { isStatus, type Entity } from './tables.js';
import { jobLayout } from '../domain/jobLayout.js';
import type { JobSpec } from '../domain/jobSpec.js';
import { joinJson, MAX_INLINE_JSON, splitJson } from './tables.js';

/**
 * The properties that hold a job's spec in its row: the JSON itself in chunks, or, past what a
 * row holds, the name of a blob it was written to. A spec rewritten later (tasks added) goes to a
 * blob of a new name, so a writer that loses the race for the row overwrites nothing of the winner's.
 */
export async function specProperties(
  specs: ContainerClient,
  id: string,
  spec: JobSpec,
  rewrite = false,
): Promise<Record<string, string>> {
  const text = JSON.stringify(spec);
  if (text.length <= MAX_INLINE_JSON) return splitJson(spec, 'Spec');
  const name = rewrite ? `${jobLayout.job(id)}spec-${randomUUID()}.json` : jobLayout.spec(id);
  await specs
    .getBlockBlobClient(name)
    .upload(text, Buffer.byteLength(text), { blobHTTPHeaders: { blobContentType: 'application/json' } });
  return { SpecBlob: name };
}

/** The spec a job row holds, or points to. */
export async function readSpec(specs: ContainerClient, entity: Record<string, unknown>): Promise<JobSpec> {
  if (typeof entity.SpecBlob === 'string') {
    const buffer = await specs.getBlobClient(entity.SpecBlob).downloadToBuffer();
    return JSON.parse(buffer.toString('utf8')) as JobSpec;
  }
  return joinJson<JobSpec>(entity, 'Spec')!;
}

/** One addition of tasks to an open job, as its row keeps them. */
interface TaskSet {
  first: number;
  count: number;
  key?: string;
}

/**
 * Adds tasks to an open job's spec and task count in one write of its row, under its etag (see
 * `JobStore.appendTasks`); a lost race reads the row again, checking again.
 */
export async function appendTasks(
  store: {
    jobs: TableClient;
    specs: ContainerClient;
    read: (id: string) => Promise<TableEntityResult<Entity> | undefined>;
    attempts: number;
  },
  id: string,
  request: AppendTasksRequest,
): Promise<AppendedTasks> {
  for (let attempt = 0; attempt < store.attempts; attempt++) {
    const entity = await store.read(id);
    if (!entity) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    const job = toJob(entity);
    const sets = JSON.parse((entity.TaskSets as string | undefined) || '[]') as TaskSet[];
    const seen = request.key === undefined ? -1 : sets.findIndex((set) => set.key === request.key);
    if (seen >= 0) return { job, set: seen + 1, ...sets[seen]!, replayed: true };
    if (isFinal(job.status)) {
      throw new ConflictError(`job ${id} has ended (${job.status}); it takes no more tasks`, 'JOB_ENDED');
    }
    if (!job.open) throw new ConflictError(`job ${id} takes no more tasks`, 'JOB_NOT_OPEN');
    const spec = await readSpec(store.specs, entity);
    const next: JobSpec = { ...spec, tasks: [...(spec.tasks ?? []), ...request.tasks] };
    await request.check(next);
    const set: TaskSet = {
      first: job.taskCount,
      count: request.tasks.length,
      ...(request.key !== undefined ? { key: request.key } : {}),
    };
    try {
      // Under the etag: a completion, another addition or a status change in between is read anew.
      await store.jobs.updateEntity(
        {
          partitionKey: entity.partitionKey,
          rowKey: entity.rowKey,
          ...(await specProperties(store.specs, id, next, true)),
          TaskCount: job.taskCount + set.count,
          TaskSets: JSON.stringify([...sets, set]),
        },
        'Merge',
        { etag: entity.etag },
      );
    } catch (error) {
      if (isStatus(error, 412)) continue;
      throw error;
    }
    return {
      job: { ...job, taskCount: job.taskCount + set.count },
      set: sets.length + 1,
      first: set.first,
      count: set.count,
      replayed: false,
    };
  }
  throw new TransientError('JOB_BUSY', `job ${id} is changing too often to add tasks to it`);
}

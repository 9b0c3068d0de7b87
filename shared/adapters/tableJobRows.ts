import type { TableEntityResult } from '@azure/data-tables';
import type { ActiveStatus, JobCondition, JobStatus } from '../domain/lifecycle.js';
import type { HistoryEntry, JobRecord, TaskCounts } from '../store/jobStore.js';
import type { Entity } from './tables.js';
import { emptyCounts } from './tableTaskRows.js';

/** A history entry's row key in its owner's partition: the job's entries in order. */
const historyRowKey = (id: string, sequence: number) => `hist|${id}|${String(sequence).padStart(8, '0')}`;

/** The properties of a job row that make its record: all but the spec, which may be 450 KB. */
export const JOB_SUMMARY_PROPERTIES = [
  'PartitionKey',
  'RowKey',
  'JobId',
  'Name',
  'Description',
  'Template',
  'Pool',
  'Tags',
  'Priority',
  'ResubmittedFrom',
  'Resubmissions',
  'Open',
  'Status',
  'ResumeStatus',
  'Condition',
  'Message',
  'ExitCodes',
  'Sequence',
  'TaskCount',
  'TaskCounts',
  'CreatedAt',
  'UpdatedAt',
];

/** The row of one history entry. */
export function historyEntity(owner: string, id: string, entry: HistoryEntry): Entity {
  return {
    partitionKey: owner,
    rowKey: historyRowKey(id, entry.sequence),
    Sequence: entry.sequence,
    Status: entry.status,
    ...(entry.previousStatus ? { PreviousStatus: entry.previousStatus } : {}),
    ...(entry.condition ? { Condition: entry.condition } : {}),
    Message: entry.message,
    At: entry.at,
    ...(entry.taskCounts ? { TaskCounts: JSON.stringify(entry.taskCounts) } : {}),
    ...(entry.exitCodes ? { ExitCodes: JSON.stringify(entry.exitCodes) } : {}),
    ...(entry.taskSequence !== undefined ? { TaskSequence: entry.taskSequence } : {}),
  };
}

/** A job record from its row (or its summary properties). */
export function toJob(entity: TableEntityResult<Entity>): JobRecord {
  const job: JobRecord = {
    id: entity.JobId as string,
    owner: entity.partitionKey,
    name: entity.Name as string,
    pool: entity.Pool as string,
    tags: JSON.parse((entity.Tags as string) || '{}') as Record<string, string>,
    // Jobs stored before priorities existed have none: Batch's default, 0.
    priority: typeof entity.Priority === 'number' ? entity.Priority : 0,
    resubmissions: JSON.parse((entity.Resubmissions as string | undefined) || '[]') as string[],
    open: entity.Open === true,
    status: entity.Status as JobStatus,
    message: (entity.Message as string) ?? '',
    sequence: entity.Sequence as number,
    taskCount: entity.TaskCount as number,
    taskCounts: {
      ...emptyCounts(),
      ...(JSON.parse((entity.TaskCounts as string) || '{}') as Partial<TaskCounts>),
    },
    createdAt: entity.CreatedAt as string,
    updatedAt: entity.UpdatedAt as string,
    etag: entity.etag,
  };
  if (entity.Description !== undefined) job.description = entity.Description as string;
  if (entity.Template) job.template = entity.Template as string;
  if (entity.ResubmittedFrom) job.resubmittedFrom = entity.ResubmittedFrom as string;
  if (entity.ResumeStatus) job.resumeStatus = entity.ResumeStatus as ActiveStatus;
  if (entity.Condition) job.condition = entity.Condition as JobCondition;
  if (entity.ExitCodes) job.exitCodes = JSON.parse(entity.ExitCodes as string) as Record<string, number>;
  return job;
}

import type { TableClient, TransactionAction } from '@azure/data-tables';
import { isStatus, odata, type Entity } from './tables.js';
import type { OwnerChange } from '../store/jobStore.js';

/**
 * Each owner's change log, in the owner's partition of the jobs table beside their jobs and
 * history: `oev|<position>` rows pointing at a job's history entry, and a counter row after them.
 * Entries are written by the job store in the transactions that record the changes.
 */
const OWNER_LOG_PREFIX = 'oev|';

const ownerLogRowKey = (position: number) => `${OWNER_LOG_PREFIX}${String(position).padStart(12, '0')}`;
const OWNER_LOG_COUNTER = 'oev|~';

/** The next entry of an owner's change log and its moved counter, for a change's transaction. */
export function ownerLogActions(
  owner: string,
  counter: { position: number; etag?: string },
  jobId: string,
  sequence: number,
): TransactionAction[] {
  const position = counter.position + 1;
  const moved = { partitionKey: owner, rowKey: OWNER_LOG_COUNTER, Position: position };
  return [
    ['create', { partitionKey: owner, rowKey: ownerLogRowKey(position), JobId: jobId, Sequence: sequence }],
    counter.etag ? ['update', moved, 'Replace', { etag: counter.etag }] : ['create', moved],
  ];
}

/** Reads owners' change logs. */
export class TableOwnerLog {
  constructor(
    private readonly jobs: TableClient,
    private readonly ready: () => Promise<unknown>,
  ) {}

  async changes(owner: string, options: { after: number; limit: number }): Promise<OwnerChange[]> {
    await this.ready();
    const filter =
      `PartitionKey eq ${odata(owner)} and RowKey gt ${odata(ownerLogRowKey(options.after))}` +
      ` and RowKey lt ${odata(OWNER_LOG_COUNTER)}`;
    const changes: OwnerChange[] = [];
    const pages = this.jobs
      .listEntities<Entity>({ queryOptions: { filter, select: ['RowKey', 'JobId', 'Sequence'] } })
      .byPage({ maxPageSize: Math.min(options.limit, 1000) });
    for await (const page of pages) {
      for (const entity of page) {
        changes.push({
          position: Number(entity.rowKey.slice(OWNER_LOG_PREFIX.length)),
          jobId: entity.JobId as string,
          sequence: entity.Sequence as number,
        });
        if (changes.length >= options.limit) return changes;
      }
    }
    return changes;
  }

  /**
   * The rows to delete to forget job `jobId` of `owner`: its history, and its entries in the
   * owner's change log, which each history row names (jobs recorded before they did are found
   * by a scan of the owner's log).
   */
  async historyRows(owner: string, jobId: string): Promise<TransactionAction[]> {
    await this.ready();
    const rows: TransactionAction[] = [];
    const history = `PartitionKey eq ${odata(owner)} and RowKey ge ${odata(`hist|${jobId}|`)} and RowKey lt ${odata(`hist|${jobId}}`)}`;
    let unplaced = false;
    for await (const entity of this.jobs.listEntities<Entity>({
      queryOptions: { filter: history, select: ['RowKey', 'OwnerPosition'] },
    })) {
      rows.push(['delete', { partitionKey: owner, rowKey: entity.rowKey }]);
      if (typeof entity.OwnerPosition === 'number') {
        rows.push(['delete', { partitionKey: owner, rowKey: ownerLogRowKey(entity.OwnerPosition) }]);
      } else unplaced = true;
    }
    if (!unplaced) return rows;
    const filter =
      `PartitionKey eq ${odata(owner)} and RowKey ge ${odata(OWNER_LOG_PREFIX)}` +
      ` and RowKey lt ${odata(OWNER_LOG_COUNTER)} and JobId eq ${odata(jobId)}`;
    for await (const entity of this.jobs.listEntities<Entity>({
      queryOptions: { filter, select: ['RowKey'] },
    }))
      rows.push(['delete', { partitionKey: owner, rowKey: entity.rowKey }]);
    return rows;
  }

  async head(owner: string): Promise<number> {
    await this.ready();
    return (await this.counter(owner)).position;
  }

  /** The log's last position and the counter row's etag (none before the first change). */
  async counter(owner: string): Promise<{ position: number; etag?: string }> {
    try {
      const entity = await this.jobs.getEntity<Entity>(owner, OWNER_LOG_COUNTER);
      return { position: entity.Position as number, etag: entity.etag };
    } catch (error) {
      if (isStatus(error, 404)) return { position: 0 };
      throw error;
    }
  }
}

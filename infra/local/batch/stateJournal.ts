import path from 'node:path';
import type { ComponentLogger } from '../host/logger.js';
import { Journal } from './journal.js';
import type { JobRecord, PoolRecord, TaskRecord } from './model.js';

/** One change to the account, as the journal holds it. */
export type JournalRecord =
  | { t: 'pool'; pool: PoolRecord }
  | { t: 'pool-'; id: string }
  | { t: 'job'; job: JobRecord }
  | { t: 'job-'; id: string }
  | { t: 'tasks'; job: string; tasks: TaskRecord[] }
  | { t: 'task-'; job: string; id: string };

/** The whole account at one moment: what a compaction writes in place of the journal. */
export interface Snapshot {
  pools: PoolRecord[];
  jobs: Array<{ job: JobRecord; tasks: TaskRecord[] }>;
}

/** The account as it was when the service last stopped, keyed by lower-case id as Batch matches ids. */
export interface RecoveredState {
  pools: Map<string, PoolRecord>;
  jobs: Map<string, { job: JobRecord; tasks: Map<string, TaskRecord> }>;
  /** Nothing was ever written: a first start. */
  empty: boolean;
}

const COMPACT_AFTER = 20_000;

/**
 * The account's journal: every change appended before it is acknowledged, replayed at start, and
 * replaced by a snapshot once it grows long, so a restart neither loses work nor reads for ever.
 */
export class StateJournal {
  readonly #journal: Journal<JournalRecord>;
  readonly #snapshot: () => Snapshot;
  readonly #logger: ComponentLogger;
  #compacting: Promise<void> | undefined;

  constructor(dataDir: string, snapshot: () => Snapshot, logger: ComponentLogger) {
    this.#journal = new Journal(path.join(dataDir, 'state'));
    this.#snapshot = snapshot;
    this.#logger = logger;
  }

  async load(): Promise<RecoveredState> {
    const { snapshot, records } = await this.#journal.load();
    return { ...replay(snapshot as Snapshot | undefined, records), empty: !snapshot && records.length === 0 };
  }

  /** Resolves once the record is written; starts a compaction in the background past the threshold. */
  append(record: JournalRecord): Promise<void> {
    const written = this.#journal.append(record);
    if (this.#journal.length > COMPACT_AFTER && !this.#compacting) {
      this.#compacting = written
        .then(() => this.#journal.compact(this.#snapshot))
        .catch((error: unknown) => this.#logger.error('could not compact the Batch journal', error))
        .finally(() => {
          this.#compacting = undefined;
        });
    }
    return written;
  }

  async close(): Promise<void> {
    await this.#compacting;
    await this.#journal.close();
  }
}

/** Folds a snapshot and the records written after it into the state they describe. */
export function replay(
  snapshot: Snapshot | undefined,
  records: readonly JournalRecord[],
): Omit<RecoveredState, 'empty'> {
  const pools = new Map<string, PoolRecord>();
  const jobs: RecoveredState['jobs'] = new Map();
  for (const pool of snapshot?.pools ?? []) pools.set(pool.id.toLowerCase(), pool);
  for (const { job, tasks } of snapshot?.jobs ?? []) {
    jobs.set(job.id.toLowerCase(), { job, tasks: new Map(tasks.map((t) => [t.spec.id.toLowerCase(), t])) });
  }
  for (const record of records) {
    switch (record.t) {
      case 'pool':
        pools.set(record.pool.id.toLowerCase(), record.pool);
        break;
      case 'pool-':
        pools.delete(record.id.toLowerCase());
        break;
      case 'job': {
        const key = record.job.id.toLowerCase();
        const existing = jobs.get(key);
        if (existing) existing.job = record.job;
        else jobs.set(key, { job: record.job, tasks: new Map() });
        break;
      }
      case 'job-':
        jobs.delete(record.id.toLowerCase());
        break;
      case 'tasks': {
        const entry = jobs.get(record.job.toLowerCase());
        if (entry) for (const task of record.tasks) entry.tasks.set(task.spec.id.toLowerCase(), task);
        break;
      }
      case 'task-':
        jobs.get(record.job.toLowerCase())?.tasks.delete(record.id.toLowerCase());
        break;
    }
  }
  return { pools, jobs };
}

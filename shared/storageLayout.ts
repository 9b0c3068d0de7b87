/**
 * Every container and table the app keeps its state in, named once: the adapters open them by
 * these names, and the Azure templates must create each (the drift test checks they do).
 */

/** Blob containers; `job-inbox` and its rejected twin are fixed by the contract. */
export const CONTAINERS = {
  /**
   * Each job's spec, plan and outputs manifest, under `<jobId>/` (and the outputs of jobs run
   * before each job had a container of its own: see `dataContainer` in domain/jobLayout.ts).
   */
  jobs: 'jobs',
  /** Tasks' stdout and stderr of jobs run before each had a container of its own. */
  logs: 'job-logs',
  inbox: 'job-inbox',
  /** Users' own files, under `<owner>/`: inputs they uploaded (`files://`). */
  uploads: 'uploads',
  rejected: 'job-inbox-rejected',
} as const;

/** Tables, each name after the deployment's `CLOUDJOBS_TABLE_PREFIX`. */
export const TABLES = {
  /** A job's record and its history, partitioned by owner. */
  jobs: 'jobs',
  /** Finds a job's owner partition from its id. */
  jobIndex: 'jobindex',
  idempotency: 'idempotency',
  /** Task records and the task event log, partitioned by job. */
  tasks: 'tasks',
  templates: 'templates',
  /** The jobs on Batch now, for the reconciler and per-user limits. */
  inflight: 'inflight',
  subscriptions: 'subscriptions',
  deliveries: 'deliveries',
} as const;

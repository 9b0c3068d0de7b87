import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError } from '../errors.js';
import { forEachLimited } from '../concurrency.js';
import { isFinal } from '../domain/lifecycle.js';
import { jobLayout, type JobFilesLayout } from '../domain/jobLayout.js';
import type { ComputeBackend } from '../compute/compute.js';
import { deleteUnder, type BlobContainers } from '../store/blobStore.js';
import type { JobRecord, JobStore } from '../store/jobStore.js';
import type { SubscriptionStore } from '../store/subscriptionStore.js';
import type { DeliveryStore } from '../store/deliveryStore.js';

/** Forgets a job's orchestration history (Durable's instance and its sub-orchestrations). */
export interface OrchestrationHistory {
  /**
   * Whether the job's orchestration still runs: then its history cannot be purged yet (a job's
   * last status is recorded just before its orchestration completes).
   */
  running(jobId: string): Promise<boolean>;
  /** Purges the instance `id`; answers whether there was one. */
  purge(instanceId: string): Promise<boolean>;
}

export interface JobCleanupOptions {
  store: Pick<JobStore, 'getJob' | 'deleteJob' | 'listEndedBefore'>;
  blobs: BlobContainers;
  /** The container of each job's spec, plan and outputs under `<jobId>/`. */
  jobsContainer: string;
  /** Where logs go when the job's plan does not say (it was never planned). */
  defaultLogsContainer: string;
  compute: Pick<ComputeBackend, 'deleteJob'>;
  /** Chunks per submission sub-orchestration, as jobs are run (see the orchestrator). */
  chunksPerSubOrchestration: number;
  /** Ends the job's own subscriptions and every delivery of its events. */
  forgetNotifications: (owner: string, jobId: string) => Promise<void>;
  subscriptions: Pick<SubscriptionStore, 'listExpired' | 'delete'>;
  deliveries: Pick<DeliveryStore, 'forget'>;
  /** How long to wait for an ended job's orchestration to complete before refusing; 5 s. */
  settleMs?: number;
  now?: () => Date;
}

/** What a retention pass did. */
export interface SweepReport {
  jobs: number;
  blobs: number;
  subscriptions: number;
}

// A pass forgets at most this many jobs; the next pass (or the next day's) takes the rest.
const JOBS_PER_SWEEP = 500;

/**
 * Forgets ended jobs whole: what Batch, Durable and storage hold of them as well as their
 * records. Every step is safe to repeat and the records go last, so a clean-up cut short (a
 * crash, a timeout) is finished by the next request or retention pass, which finds the job as it
 * was. Nothing of a job that has not ended is touched.
 */
export class JobCleanup {
  readonly #now: () => Date;

  constructor(private readonly o: JobCleanupOptions) {
    this.#now = o.now ?? (() => new Date());
  }

  /**
   * Removes an ended job: its Batch job, its orchestration history, its log and output blobs,
   * then its records and notifications. Answers how many blobs went.
   *
   * @throws ConflictError `JOB_NOT_FINISHED` while it runs, or while its orchestration is still
   *   completing (retry in a moment).
   */
  async remove(job: JobRecord, history: OrchestrationHistory): Promise<{ blobs: number }> {
    if (!isFinal(job.status)) {
      throw new ConflictError(
        `job ${job.id} is ${job.status}; cancel it and delete it once it has ended`,
        'JOB_NOT_FINISHED',
      );
    }
    // A job's last status is recorded just before its orchestration completes: wait that out.
    const until = Date.now() + (this.o.settleMs ?? 5000);
    while (Date.now() < until && (await history.running(job.id))) await sleep(250);
    if (await history.running(job.id)) {
      throw new ConflictError(
        `job ${job.id} has ended but its orchestration is still completing; try again in a few seconds`,
        'JOB_NOT_FINISHED',
        { retryAfterMs: 5000 },
      );
    }
    const jobs = this.o.blobs(this.o.jobsContainer);
    // Read before anything goes: where the logs are, and how many submissions fanned out.
    const layout = await jobs.readJson<JobFilesLayout>(jobLayout.files(job.id));
    let chunks = 0;
    for await (const _chunk of jobs.list(jobLayout.chunk(job.id, 0).replace(/\d+\.json$/, ''))) chunks++;
    await this.o.compute.deleteJob(job.id);
    const per = this.o.chunksPerSubOrchestration;
    await purgeOrchestration(history, job.id, chunks <= per ? 0 : Math.ceil(chunks / per));
    // What its tasks wrote first (its own container; the logs copied out, or, for a job run
    // before there was one, its logs): the layout that finds them is among the job's own files.
    let blobs = 0;
    if (layout?.data) {
      const data = this.o.blobs(layout.data);
      for await (const _blob of data.list('')) blobs++;
      await data.deleteContainer();
    }
    const logs = this.o.blobs(layout?.logs.container ?? this.o.defaultLogsContainer);
    blobs += await deleteUnder(logs, jobLayout.job(job.id));
    blobs += await deleteUnder(jobs, jobLayout.job(job.id));
    // The record before the deliveries: a delivery woken meanwhile finds no job and sends nothing.
    await this.o.store.deleteJob(job.id);
    await this.o.forgetNotifications(job.owner, job.id);
    return { blobs };
  }

  /**
   * One retention pass: forgets jobs that ended more than `days` days ago (and everything of
   * theirs, as {@link remove} does) and subscriptions past their expiry. A job whose orchestration
   * has not completed is left for the next pass.
   */
  async sweep(days: number, history: OrchestrationHistory): Promise<SweepReport> {
    const now = this.#now();
    const cutoff = new Date(now.getTime() - days * 24 * 60 * 60_000).toISOString();
    const report: SweepReport = { jobs: 0, blobs: 0, subscriptions: 0 };
    const due = await this.o.store.listEndedBefore(cutoff, JOBS_PER_SWEEP);
    await forEachLimited(due, 4, async ({ id }) => {
      const job = await this.o.store.getJob(id);
      // Read again: a job resubmitted or changed since the listing is judged as it is now.
      if (!job || !isFinal(job.status) || job.updatedAt >= cutoff) return;
      try {
        report.blobs += (await this.remove(job, history)).blobs;
        report.jobs++;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    });
    for (const { owner, id } of await this.o.subscriptions.listExpired(now.toISOString(), JOBS_PER_SWEEP)) {
      if (await this.o.subscriptions.delete(owner, id)) report.subscriptions++;
      await this.o.deliveries.forget(id);
    }
    return report;
  }
}

/**
 * Purges the job's orchestration and its submission sub-orchestrations (`<jobId>-submit-<i>`):
 * the `children` its plan implies (some may be gone after a purge cut short), then on while more
 * are found (the setting may have been smaller when the job ran).
 */
async function purgeOrchestration(
  history: OrchestrationHistory,
  jobId: string,
  children: number,
): Promise<void> {
  for (let i = 0; ; i++) {
    const found = await history.purge(`${jobId}-submit-${i}`);
    if (!found && i >= children) break;
  }
  // The parent last: while it is there, a retried delete still finds the job's instances.
  await history.purge(jobId);
}

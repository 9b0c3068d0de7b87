import type { ComputeBackend, ComputeTaskState } from '../compute/compute.js';
import type { JobEvent, JobStatusChanged, TaskChangesLogged, TaskSignal } from '../domain/events.js';
import type { StatusRecorder } from './statusRecorder.js';
import { isFinal, isFinalTask, type JobStatus, type TaskStatus } from '../domain/lifecycle.js';
import { METRICS, type Telemetry } from '../telemetry.js';
import { progressOf, tasksToSkip } from '../domain/taskState.js';
import type {
  JobRecord,
  JobStore,
  TaskCounts,
  TaskChange,
  TaskRecord,
  TaskUpdate,
  TaskUpdateResult,
} from '../store/jobStore.js';
import { AppError, ConflictError, NotFoundError } from '../errors.js';
import type { JobSignal } from '../orchestration/signals.js';
import { taskUpdate, type StoredGraph } from './jobRunner.js';
import { mapLimited } from '../concurrency.js';

/** How a signal reaches a job's orchestration; a job without one is not an error. */
export type RaiseSignal = (jobId: string, signal: JobSignal) => Promise<void>;

/** What the reconciler needs to know of a job's orchestration, and may do to it. */
export interface OrchestrationControl {
  raise: RaiseSignal;
  /** Whether the orchestration exists and has not ended. */
  state(jobId: string): Promise<'running' | 'ended' | 'missing'>;
  start(jobId: string): Promise<void>;
}

export interface TaskSignalsOptions {
  store: JobStore;
  compute: ComputeBackend;
  /** The job's task graph, as processing its inputs kept it. */
  graph: (jobId: string) => Promise<StoredGraph>;
  /**
   * Batch uploads a task's logs before it marks the task completed, so a log's signal can arrive
   * while Batch still says running: wait this long, then again, before settling for what it says.
   */
  settleDelaysMs?: readonly number[];
  /** A PENDING job without an orchestration after this long was not started: start it. */
  startGraceMs?: number;
  /** Records the failure of a job whose orchestration ended without ending it. */
  statuses: Pick<StatusRecorder, 'record'>;
  /** Whether a job's task changes should be logged for subscribers; never, when absent. */
  logTaskEvents?: (job: { id: string; owner: string }) => Promise<boolean>;
  telemetry?: Telemetry;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

/** What one reconciliation pass did, for its log line. */
export interface ReconcileReport {
  jobs: number;
  repaired: number;
  started: number;
  settled: number;
  /** Jobs failed because their orchestration had ended without them. */
  orphaned: number;
  /** Status changes the pass recorded and task changes it logged, for the `job-events` queue. */
  events: JobEvent[];
}

// A job whose tasks fail by the thousand should not write a line for each.
const FAILED_TASK_LINES = 20;

// Statuses in which the job's tasks exist on Batch and their news matters.
const WATCHED: ReadonlySet<JobStatus> = new Set(['SUBMITTING_JOB', 'QUEUED', 'RUNNING', 'PAUSED', 'BLOCKED']);

/**
 * Keeps task records in step with Batch, from two directions: signals (a task's logs arrived)
 * and reconciliation (a timer compares every job in flight with Batch). Both only observe Batch
 * and record what it says, so a signal delivered twice, late or never changes nothing that
 * matters; both tell the job's orchestration about milestones only, never about single tasks.
 */
export class TaskSignals {
  readonly #o: TaskSignalsOptions;
  readonly #graphs = new Map<string, Promise<StoredGraph>>();
  readonly #now: () => Date;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: TaskSignalsOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * Handles a batch of task signals: each named task is read from Batch and recorded. Returns news
   * of the task changes logged for subscribers, for the `job-events` queue.
   */
  async onSignals(signals: readonly TaskSignal[], raise: RaiseSignal): Promise<TaskChangesLogged[]> {
    const logged: TaskChangesLogged[] = [];
    const byJob = new Map<string, Set<string>>();
    for (const signal of signals) {
      const tasks = byJob.get(signal.jobId) ?? new Set<string>();
      tasks.add(signal.taskId);
      byJob.set(signal.jobId, tasks);
    }
    for (const [jobId, taskIds] of byJob) {
      const job = await this.#o.store.getJob(jobId);
      if (!job || !WATCHED.has(job.status)) continue;
      const states = await this.#readSettled(jobId, [...taskIds]);
      const at = this.#now().toISOString();
      await this.#apply(
        job,
        states.map((state) => taskUpdate(state, at)),
        raise,
        logged,
      );
    }
    return logged;
  }

  /**
   * Cancels one task of a job whose tasks are on Batch. It is noted as cancelled on its own first
   * (whoever records its end then treats it as a failure: its dependents are SKIPPED unless it
   * lets them run), then stopped on Batch, then recorded from what Batch says, as a signal would
   * be, so the answer shows it ended and the job hears of any milestone (its last task ending).
   * Returns the task as recorded and the news for subscribers.
   */
  async cancelTask(
    job: JobRecord,
    taskId: string,
    by: string,
    raise: RaiseSignal,
  ): Promise<{ task: TaskRecord; logged: TaskChangesLogged[] }> {
    const ended = (task: TaskRecord) =>
      new ConflictError(`task ${taskId} has ended (${task.status}); it cannot be cancelled`, 'TASK_ENDED', {
        details: { status: task.status },
      });
    const task = await this.#o.store.getTask(job.id, taskId);
    if (!task) throw new NotFoundError(`job ${job.id} has no task ${taskId}`, 'TASK_NOT_FOUND');
    if (isFinalTask(task.status)) throw ended(task);
    const at = this.#now().toISOString();
    await this.#o.store.markTaskCancelled(job.id, taskId, by, at);
    if (!(await this.#o.compute.terminateTask(job.id, taskId))) {
      await this.#o.store.unmarkTaskCancelled(job.id, taskId);
      throw new AppError(
        'TASK_NOT_SUBMITTED',
        `task ${taskId} is not on Batch yet (its job is still submitting tasks); try again in a moment`,
        409,
        'backoff',
        { retryAfterMs: 5000 },
      );
    }
    const logged: TaskChangesLogged[] = [];
    const states = await this.#readSettled(job.id, [taskId]);
    await this.#apply(
      job,
      states.map((state) => taskUpdate(state, this.#now().toISOString())),
      raise,
      logged,
    );
    const recorded = (await this.#o.store.getTask(job.id, taskId)) ?? task;
    // It ended on its own before the request reached it: say so rather than claim a cancel.
    if (isFinalTask(recorded.status) && recorded.status !== 'CANCELLED') throw ended(recorded);
    return { task: recorded, logged };
  }

  /**
   * One reconciliation pass over every job in flight: repairs what lost signals missed (task
   * states, milestones), starts orchestrations that were never started, and forgets ended jobs.
   */
  async reconcile(control: OrchestrationControl): Promise<ReconcileReport> {
    const report: ReconcileReport = { jobs: 0, repaired: 0, started: 0, settled: 0, orphaned: 0, events: [] };
    let oldestStateMs = 0;
    for (const { id } of await this.#o.store.listInFlight()) {
      report.jobs++;
      const job = await this.#o.store.getJob(id);
      if (!job || isFinal(job.status)) {
        if (await this.#o.store.settledInFlight(id)) report.settled++;
        continue;
      }
      oldestStateMs = Math.max(oldestStateMs, this.#now().getTime() - Date.parse(job.updatedAt));
      if (job.status === 'PENDING') {
        const age = this.#now().getTime() - Date.parse(job.createdAt);
        if (age > (this.#o.startGraceMs ?? 60_000) && (await control.state(id)) === 'missing') {
          await control.start(id);
          report.started++;
        }
        continue;
      }
      if ((await control.state(id)) !== 'running') {
        const event = await this.#failOrphan(id);
        if (event) {
          report.orphaned++;
          report.events.push(event);
        }
        continue;
      }
      if (!WATCHED.has(job.status)) continue;
      const logged: TaskChangesLogged[] = [];
      if (await this.#repair(job, control.raise, logged)) report.repaired++;
      report.events.push(...logged);
    }
    // Every pass reports, 0 included, so the stuck-job alert clears once the job moves or ends.
    this.#o.telemetry?.metric(METRICS.oldestStateAgeSeconds, Math.round(oldestStateMs / 1000));
    return report;
  }

  /**
   * A job whose orchestration has ended (failed past its retries, or was terminated by hand) but
   * is not final would wait forever: it fails, and its Batch job is stopped. Read again after
   * seeing the orchestration ended, since all of its writes are done by then.
   */
  async #failOrphan(jobId: string): Promise<JobStatusChanged | undefined> {
    const job = await this.#o.store.getJob(jobId);
    if (!job || isFinal(job.status)) return undefined;
    await this.#o.compute.terminateJob(jobId, 'cloudjobs').catch((error: unknown) => {
      if ((error as { code?: string }).code !== 'BATCH_JOB_NOT_FOUND') throw error;
    });
    const { event } = await this.#o.statuses.record({
      jobId,
      to: 'FAILED',
      condition: 'INTERNAL_ERROR',
      message: `its orchestration ended while it was ${job.status}; see the app's logs`,
    });
    return event;
  }

  /** Compares a job's counts with Batch's and, where they differ, its task states. */
  async #repair(job: JobRecord, raise: RaiseSignal, logged: TaskChangesLogged[]): Promise<boolean> {
    const batch = await this.#o.compute.taskCounts(job.id).catch((error: unknown) => {
      // Not on Batch yet (still submitting) or already deleted: nothing to compare.
      if ((error as { code?: string }).code === 'BATCH_JOB_NOT_FOUND') return undefined;
      throw error;
    });
    const stored = await this.#o.store.taskCounts(job.id);
    if (!batch || !stored) return false;
    await this.#retellAdditions(job, stored, raise);
    const storedCompleted = stored.SUCCEEDED + stored.FAILED + stored.CANCELLED;
    const differs =
      batch.running !== stored.RUNNING ||
      batch.completed !== storedCompleted ||
      batch.succeeded !== stored.SUCCEEDED;
    const updates: TaskUpdate[] = [];
    if (differs) {
      const at = this.#now().toISOString();
      for (const state of ['running', 'completed'] as const) {
        let continuation: string | undefined;
        do {
          const page = await this.#o.compute.listTasks(job.id, {
            state,
            pageSize: 1000,
            ...(continuation ? { continuation } : {}),
          });
          for (const task of page.tasks) updates.push(taskUpdate(task, at));
          continuation = page.continuation;
        } while (continuation);
      }
    }
    const changes = await this.#apply(job, updates, raise, logged);
    return changes.length > 0;
  }

  /**
   * Records observations, skips what can no longer run, and raises any milestone reached. Changes
   * logged for subscribers are announced in `logged`.
   */
  async #apply(
    job: JobRecord,
    updates: TaskUpdate[],
    raise: RaiseSignal,
    logged: TaskChangesLogged[],
  ): Promise<TaskChange[]> {
    const log = updates.length > 0 && (await this.#o.logTaskEvents?.(job)) === true;
    const result =
      updates.length > 0
        ? await this.#o.store.updateTasks(job.id, updates, { log })
        : { changes: [], unfinishedNearby: 0 };
    announce(job, result, logged);
    const changes = [...result.changes];
    let mayBeDone = result.unfinishedNearby === 0;
    if (changes.some((change) => blocksDependents(change.task.status))) {
      const skipped = await this.#skipUnreachable(job.id, log);
      announce(job, skipped, logged);
      changes.push(...skipped.changes);
      if (skipped.changes.length > 0) mayBeDone = skipped.unfinishedNearby === 0;
    }
    this.#report(job, changes);
    await this.#failJobOn(job, changes, raise);
    // The orchestration records RUNNING and ARCHIVING itself; a job past a milestone is not told
    // again. Reading the counts is a query over the whole job, so it is made only when a milestone
    // can be news: the first tasks of a queued job, or no unfinished task left near these.
    const awaitingStart = job.status === 'SUBMITTING_JOB' || job.status === 'QUEUED';
    if (!awaitingStart && !mayBeDone) return changes;
    const counts = await this.#o.store.taskCounts(job.id);
    if (!counts) return changes;
    const progress = progressOf(counts, job.taskCount);
    const newsToIt = (progress.started && awaitingStart) || (progress.allDone && WATCHED.has(job.status));
    if (newsToIt)
      await raise(job.id, { type: 'tasks', started: progress.started, allDone: progress.allDone });
    return changes;
  }

  /**
   * Tasks counted in an open job but not recorded: an addition whose news to the orchestration
   * was lost (its request died in between), or is on its way. Told again; hearing of an addition
   * twice changes nothing, so this is safe either way.
   */
  async #retellAdditions(job: JobRecord, stored: TaskCounts, raise: RaiseSignal): Promise<void> {
    const recorded = Object.values(stored).reduce((sum, n) => sum + n, 0);
    if (recorded >= job.taskCount) return;
    for (const [i, set] of (await this.#o.store.taskSets(job.id)).entries()) {
      if (set.first + set.count > recorded)
        await raise(job.id, { type: 'tasksAdded', set: i + 1, first: set.first, count: set.count });
    }
  }

  /** A task that failed with an exit code its spec says fails the job tells the orchestration. */
  async #failJobOn(job: JobRecord, changes: readonly TaskChange[], raise: RaiseSignal): Promise<void> {
    const failed = changes.filter(
      (change) => change.task.status === 'FAILED' && change.task.exitCode !== undefined,
    );
    if (failed.length === 0) return;
    const graph = await this.#graph(job.id);
    const byId = new Map(graph.tasks.map((task) => [task.id, task]));
    for (const { task } of failed) {
      if (!byId.get(task.id)?.failJob?.includes(task.exitCode!)) continue;
      await raise(job.id, { type: 'failJob', taskId: task.id, exitCode: task.exitCode! });
      return;
    }
  }

  /** Tasks that ended count in a metric; each failed one is also a line (a few per batch). */
  #report(job: JobRecord, changes: readonly TaskChange[]): void {
    const telemetry = this.#o.telemetry;
    if (!telemetry) return;
    const ended = new Map<TaskStatus, number>();
    const failed: TaskChange[] = [];
    for (const change of changes) {
      if (!isFinalTask(change.task.status) || isFinalTask(change.previousStatus)) continue;
      ended.set(change.task.status, (ended.get(change.task.status) ?? 0) + 1);
      if (change.task.status === 'FAILED') failed.push(change);
    }
    for (const [status, count] of ended) telemetry.metric(METRICS.tasksCompleted, count, { status });
    for (const { task } of failed.slice(0, FAILED_TASK_LINES)) {
      telemetry.log(
        'warning',
        `task failed${task.exitCode !== undefined ? ` with exit code ${task.exitCode}` : ''}`,
        {
          jobId: job.id,
          taskId: task.id,
          owner: job.owner,
          attempt: task.attempt,
          exitCode: task.exitCode,
          failureCode: task.failure?.code,
        },
      );
    }
    if (failed.length > FAILED_TASK_LINES) {
      telemetry.log('warning', `${failed.length - FAILED_TASK_LINES} more task(s) failed`, {
        jobId: job.id,
        owner: job.owner,
      });
    }
  }

  /** Settles the tasks a failed, skipped or cancelled dependency keeps from running (see tasksToSkip). */
  async #skipUnreachable(jobId: string, log: boolean): Promise<TaskUpdateResult> {
    let graph = await this.#graph(jobId);
    const statuses = new Map<string, TaskStatus>();
    const attempts = new Map<string, number>();
    const exitCodes = new Map<string, number>();
    let continuation: string | undefined;
    do {
      const page = await this.#o.store.listTasks(jobId, {
        limit: 1000,
        ...(continuation ? { continuation } : {}),
      });
      for (const task of page.items) {
        statuses.set(task.id, task.status);
        attempts.set(task.id, task.attempt);
        if (task.exitCode !== undefined) exitCodes.set(task.id, task.exitCode);
      }
      continuation = page.continuation;
    } while (continuation);
    // Tasks were added to the job since its graph was read here: read it again.
    if (statuses.size > graph.tasks.length) {
      this.#graphs.delete(jobId);
      graph = await this.#graph(jobId);
    }
    const settle = tasksToSkip(
      graph.tasks,
      graph.order,
      statuses,
      await this.#o.store.tasksCancelledAlone(jobId),
      exitCodes,
    );
    if (settle.length === 0) return { changes: [], unfinishedNearby: 0 };
    const at = this.#now().toISOString();
    return this.#o.store.updateTasks(
      jobId,
      settle.map(({ id, status }) => ({ id, status, attempt: attempts.get(id) ?? 1, at })),
      { log },
    );
  }

  #graph(jobId: string): Promise<StoredGraph> {
    let graph = this.#graphs.get(jobId);
    if (!graph) {
      graph = this.#o.graph(jobId);
      graph.catch(() => this.#graphs.delete(jobId));
      if (this.#graphs.size >= 16) this.#graphs.delete(this.#graphs.keys().next().value!);
      this.#graphs.set(jobId, graph);
    }
    return graph;
  }

  /** Tasks' states from Batch, giving those still finishing their uploads a moment to complete. */
  async #readSettled(jobId: string, taskIds: string[]): Promise<ComputeTaskState[]> {
    const found = new Map<string, ComputeTaskState>();
    let waiting = taskIds;
    const delays = this.#o.settleDelaysMs ?? [200, 1000, 3000];
    for (let round = 0; ; round++) {
      const states = await mapLimited(waiting, 16, (taskId) => this.#o.compute.getTask(jobId, taskId));
      const unsettled: string[] = [];
      states.forEach((state, i) => {
        if (!state) return;
        found.set(state.id, state);
        if (state.state !== 'completed') unsettled.push(waiting[i]!);
      });
      if (unsettled.length === 0 || round >= delays.length) break;
      await this.#sleep(delays[round]!);
      waiting = unsettled;
    }
    return [...found.values()];
  }
}

/** Adds news of the changes a write logged, if it logged any. */
function announce(
  job: { id: string; owner: string },
  result: TaskUpdateResult,
  logged: TaskChangesLogged[],
): void {
  if (!result.logged) return;
  const statuses = [...new Set(result.changes.map((change) => change.task.status))];
  if (statuses.length === 0) return;
  logged.push({
    type: 'task.status.changed',
    jobId: job.id,
    owner: job.owner,
    statuses,
    through: result.logged.last,
  });
}

function blocksDependents(status: TaskStatus): boolean {
  return status === 'FAILED' || status === 'SKIPPED' || status === 'CANCELLED';
}

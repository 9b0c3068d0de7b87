import * as df from 'durable-functions';
import type { OrchestrationContext, Task, TimerTask } from 'durable-functions';
import type { JobCondition, JobStatus } from '../domain/lifecycle.js';
import {
  ACTIVITY,
  type PreparedJob,
  type SettledTasks,
  type StatusChangeRequest,
  type StepFailure,
  type StepResult,
  type SubmitSummary,
} from './activities.js';
import { foldSignal, initialJobState, nextWhileRunning, type JobState } from './jobState.js';
import { JOB_SLOTS_ENTITY, jobSlotsKey, slotGrantSchema, type SlotGrant } from './jobSlots.js';
import { judgeTasks } from '../domain/taskState.js';
import { jobSignalSchema, orchestrationInputSchema, SIGNAL_EVENT, type JobSignal } from './signals.js';
import {
  activityRetry,
  submitRange,
  SUBMIT_ORCHESTRATOR,
  type SubmitRange,
} from './submitTasksOrchestrator.js';

/** What the orchestration returns: how the job ended. */
export interface JobOutcome {
  status: JobStatus;
  condition?: JobCondition;
}

type Step<T = void> = Generator<Task, T, unknown>;
type Input = ReturnType<typeof orchestrationInputSchema.parse>;

/** Thrown inside the orchestration to end the job; caught once, at the top. */
class JobEnding extends Error {
  constructor(
    readonly kind: 'cancel' | 'timeout' | 'fail',
    readonly failure?: StepFailure,
  ) {
    super(`job ending: ${kind}`);
  }
}

/**
 * The job orchestration: one per job, instance id = job id. It walks the job through the phases
 * of its lifecycle, calling activities for everything that touches the world, and otherwise waits
 * for signals: task milestones (never single tasks, so a 10,000-task job's history stays a few
 * hundred events), and the user's cancel, pause, resume and complete. Deterministic: time comes
 * from `context.df`, and everything it knows of the job comes from activities and signals.
 */
export function* jobOrchestrator(context: OrchestrationContext): Step<JobOutcome> {
  const job = new JobLifecycle(context, orchestrationInputSchema.parse(context.df.getInput()));
  try {
    yield* job.processInputs();
    const chunks = yield* job.stageInputs();
    yield* job.stageBatchJob();
    yield* job.submit(chunks);
    yield* job.untilTasksEnd();
    return yield* job.archive();
  } catch (error) {
    return yield* job.end(error);
  }
}

/** One job's walk through its lifecycle: the phases, and the waiting they share. */
class JobLifecycle {
  #state: JobState = initialJobState();
  #signal: Task;
  #deadline: TimerTask | undefined;
  /** Whether the job holds one of its owner's slots (taken in STAGING_JOB, given back at the end). */
  #holdsSlot = false;
  readonly #retry: df.RetryOptions = activityRetry();

  constructor(
    private readonly context: OrchestrationContext,
    private readonly input: Input,
  ) {
    this.#signal = context.df.waitForExternalEvent(SIGNAL_EVENT);
  }

  get #jobId(): string {
    return this.input.jobId;
  }

  // ---- The phases, in order.

  /** PROCESSING_INPUTS: expand the job, check its inputs, record its tasks. */
  *processInputs(): Step {
    yield* this.#record('PROCESSING_INPUTS', 'expanding the job and checking its inputs');
    const { job } = yield* this.#step<{ job: PreparedJob }>(ACTIVITY.processInputs);
    this.#state = { ...this.#state, prepared: job, tasksRecorded: true };
    if (job.timeoutMinutes !== undefined) {
      this.#deadline = this.context.df.createTimer(
        new Date(this.context.df.currentUtcDateTime.getTime() + job.timeoutMinutes * 60_000),
      );
    }
  }

  /** STAGING_INPUTS: grant Batch access to the inputs and write the plan; says how many chunks. */
  *stageInputs(): Step<number> {
    yield* this.#record('STAGING_INPUTS', 'granting Batch access to the inputs and writing the plan');
    const { chunks } = yield* this.#step<{ chunks: number }>(ACTIVITY.stageInputs);
    return chunks;
  }

  /** STAGING_JOB: create the Batch job, waiting BLOCKED (with backoff) while Batch cannot. */
  *stageBatchJob(): Step {
    yield* this.#record('STAGING_JOB', `creating the Batch job on pool ${this.#prepared.pool}`);
    const limit = this.#waitLimitMs('blocked');
    let blockedSince: number | undefined;
    const slots = this.#slots;
    for (let attempt = 0; ; attempt++) {
      const grant = slots ? yield* this.#takeSlot(slots.entity, slots.limit) : undefined;
      const result: StepResult<{ created: boolean }> =
        grant && !grant.granted
          ? {
              outcome: 'blocked',
              code: 'USER_JOB_LIMIT',
              message: `its owner already has ${grant.holders.length} job(s) on Batch, the most allowed (${slots!.limit}): ${holdersText(grant.holders)}; it starts when one ends`,
            }
          : ((yield this.#call(ACTIVITY.ensureBatchJob, { jobId: this.#jobId })) as StepResult<{
              created: boolean;
            }>);
      if (result.outcome === 'done') break;
      if (result.outcome === 'failed') throw new JobEnding('fail', result.failure);
      const now = this.context.df.currentUtcDateTime.getTime();
      blockedSince ??= now;
      if (limit !== undefined && now - blockedSince >= limit) {
        throw new JobEnding('fail', {
          condition: 'BLOCKED_TOO_LONG',
          message: `blocked for ${minutesText(limit)}, waiting for ${result.code}: ${result.message}`,
        });
      }
      const { initialSeconds, maxSeconds } = this.input.blockedRetry;
      const backoffMs =
        result.retryAfterMs ?? Math.min(maxSeconds, initialSeconds * 2 ** Math.min(attempt, 20)) * 1000;
      // The last try comes when the limit is up, not a whole backoff later.
      const waitMs =
        limit === undefined ? backoffMs : Math.max(1000, Math.min(backoffMs, blockedSince + limit - now));
      if (this.#state.status !== 'BLOCKED')
        yield* this.#record('BLOCKED', `${result.code}: ${result.message}`);
      const retry = this.context.df.createTimer(
        new Date(this.context.df.currentUtcDateTime.getTime() + waitMs),
      );
      for (;;) {
        const heard = yield* this.#wait(retry);
        if (heard.kind === 'also') break;
        if (heard.kind === 'pause') {
          retry.cancel();
          yield* this.#hold(heard.by);
          // Time on hold is the user's, not the wait's.
          blockedSince = undefined;
          break;
        }
      }
    }
    this.#state = { ...this.#state, batchJob: true };
  }

  /** SUBMITTING_JOB, then QUEUED: add the tasks to the Batch job. */
  *submit(chunks: number): Step {
    const prepared = this.#prepared;
    yield* this.#record('SUBMITTING_JOB', `submitting ${prepared.taskCount} task(s)`);
    // A very large job's chunks go to sub-orchestrations, each fanning out its own share, so no
    // one history grows with the job's size.
    const perChild = this.input.submit.chunksPerSubOrchestration;
    let summaries: SubmitSummary[];
    if (chunks <= perChild) {
      summaries = yield* submitRange(this.context, { jobId: this.#jobId, from: 0, to: chunks }, this.#retry);
    } else {
      const children: Task[] = [];
      for (let from = 0, i = 0; from < chunks; from += perChild, i++) {
        const range: SubmitRange = { jobId: this.#jobId, from, to: Math.min(chunks, from + perChild) };
        children.push(
          this.context.df.callSubOrchestrator(SUBMIT_ORCHESTRATOR, range, `${this.#jobId}-submit-${i}`),
        );
      }
      summaries = ((yield this.context.df.Task.all(children)) as SubmitSummary[][]).flat();
    }
    throwIfRejected(summaries);
    yield* this.#record('QUEUED', `${prepared.taskCount} task(s) queued on pool ${prepared.pool}`);
  }

  /**
   * QUEUED, RUNNING (and PAUSED): seal the Batch job once no more tasks come; wait for the tasks.
   * A job whose tasks have not started within its limit of being queued fails QUEUED_TOO_LONG.
   */
  *untilTasksEnd(): Step {
    const limit = this.#waitLimitMs('queued');
    let queuedSince = this.context.df.currentUtcDateTime.getTime();
    let queued: TimerTask | undefined;
    for (;;) {
      if (queued && (this.#state.started || this.#state.status !== 'QUEUED')) {
        if (!queued.isCompleted) queued.cancel();
        queued = undefined;
      }
      switch (nextWhileRunning(this.#state)) {
        case 'submit-added':
          yield* this.#submitAdded();
          continue;
        case 'seal':
          yield this.#call(ACTIVITY.sealBatchJob, { jobId: this.#jobId });
          this.#state = { ...this.#state, sealed: true };
          continue;
        case 'record-running':
          yield* this.#record('RUNNING', 'tasks are running');
          continue;
        case 'finish':
          // Tasks added to the job may have made a milestone heard before them stale.
          if (this.#state.submittedSets.length > 0) {
            const done = (yield this.#call(ACTIVITY.tasksAllDone, { jobId: this.#jobId })) as boolean;
            if (!done) {
              this.#state = { ...this.#state, allDone: false };
              continue;
            }
          }
          return;
        case 'wait': {
          if (!queued && limit !== undefined && this.#state.status === 'QUEUED' && !this.#state.started) {
            queued = this.context.df.createTimer(new Date(queuedSince + limit));
          }
          const heard = yield* this.#wait(queued);
          if (heard.kind === 'also') yield* this.#queuedTooLong(limit!);
          if (heard.kind === 'pause') {
            if (queued && !queued.isCompleted) queued.cancel();
            queued = undefined;
            yield* this.#hold(heard.by);
            queuedSince = this.context.df.currentUtcDateTime.getTime();
          }
        }
      }
    }
  }

  /** ARCHIVING, then FINISHED or FAILED: every task is final; stop the Batch job, archive, judge. */
  *archive(): Step<JobOutcome> {
    const jobId = this.#jobId;
    yield this.#call(ACTIVITY.controlBatchJob, { jobId, action: 'terminate' });
    this.#giveBackSlot();
    const settled = (yield this.#call(ACTIVITY.settleTasks, { jobId, leftover: 'SKIPPED' })) as SettledTasks;
    yield* this.#record('ARCHIVING', 'collecting the outputs');
    yield this.#call(ACTIVITY.archiveOutputs, { jobId });
    this.#cancelDeadline();
    const { counts, exitCodes } = settled;
    const verdict = judgeTasks(
      counts,
      settled.cancelledAlone ?? 0,
      this.#prepared.allowCancelledTasks ?? false,
    );
    yield* this.#record(verdict.status, verdict.message, {
      condition: verdict.condition,
      ...(verdict.status === 'FAILED' && Object.keys(exitCodes).length > 0 ? { exitCodes } : {}),
    });
    return { status: verdict.status, condition: verdict.condition };
  }

  /**
   * CANCELLED or FAILED, from any phase: stop what runs, settle the task records, say why. An
   * activity that failed past its retries ends the job too, naming where it stopped.
   */
  *end(error: unknown): Step<JobOutcome> {
    const ending =
      error instanceof JobEnding
        ? error
        : new JobEnding('fail', {
            condition: this.#state.batchJob ? 'BATCH_ERROR' : 'INTERNAL_ERROR',
            message: `stopped in ${this.#state.status}: ${(error instanceof Error ? error.message : String(error)).slice(0, 1000)}`,
          });
    const jobId = this.#jobId;
    this.#cancelDeadline();
    if (this.#state.batchJob) yield this.#call(ACTIVITY.controlBatchJob, { jobId, action: 'terminate' });
    this.#giveBackSlot();
    if (this.#state.tasksRecorded) yield this.#call(ACTIVITY.settleTasks, { jobId, leftover: 'CANCELLED' });
    switch (ending.kind) {
      case 'cancel':
        yield* this.#record('CANCELLED', 'cancelled by the user', { condition: 'CANCELLED_BY_USER' });
        return { status: 'CANCELLED', condition: 'CANCELLED_BY_USER' };
      case 'timeout':
        yield* this.#record(
          'FAILED',
          `ran longer than its ${this.#state.prepared?.timeoutMinutes} minute limit`,
          {
            condition: 'TIMEOUT',
          },
        );
        return { status: 'FAILED', condition: 'TIMEOUT' };
      case 'fail': {
        const failure = ending.failure ?? { condition: 'INTERNAL_ERROR', message: 'the job could not go on' };
        yield* this.#record('FAILED', failure.message, { condition: failure.condition });
        return { status: 'FAILED', condition: failure.condition };
      }
    }
  }

  // ---- What the phases share.

  /** The owner's slots entity and the limit, when the deployment limits jobs per user. */
  get #slots(): { entity: df.EntityId; limit: number } | undefined {
    const limit = this.input.maxRunningJobsPerUser;
    const owner = this.#prepared.owner;
    if (limit === 0 || owner === undefined) return undefined;
    return { entity: new df.EntityId(JOB_SLOTS_ENTITY, jobSlotsKey(owner)), limit };
  }

  /**
   * Asks the owner's slots entity for a slot. When none is free, holders whose jobs have ended
   * without giving theirs back (an orchestration terminated or purged by hand) are released and
   * the slot asked for once more.
   */
  *#takeSlot(entity: df.EntityId, limit: number): Step<SlotGrant> {
    const grant = yield* this.#acquireSlot(entity, limit);
    if (grant.granted) return grant;
    const active = (yield this.#call(ACTIVITY.activeJobs, { jobIds: grant.holders })) as string[];
    const stale = grant.holders.filter((id) => !active.includes(id));
    if (stale.length === 0) return grant;
    // Operations from one orchestration reach the entity in the order sent: the release first.
    this.context.df.signalEntity(entity, 'release', { jobIds: stale });
    return yield* this.#acquireSlot(entity, limit);
  }

  *#acquireSlot(entity: df.EntityId, limit: number): Step<SlotGrant> {
    const answer: unknown = yield this.context.df.callEntity(entity, 'acquire', {
      jobId: this.#jobId,
      limit,
    });
    const grant = slotGrantSchema.parse(answer);
    if (grant.granted) this.#holdsSlot = true;
    return grant;
  }

  /** Gives the job's slot back, once its tasks can no longer run. */
  #giveBackSlot(): void {
    const slots = this.#holdsSlot ? this.#slots : undefined;
    if (!slots) return;
    this.context.df.signalEntity(slots.entity, 'release', { jobIds: [this.#jobId] });
    this.#holdsSlot = false;
  }

  /** How long the job may wait BLOCKED or QUEUED: its own limit, else the deployment's; or none. */
  #waitLimitMs(kind: 'blocked' | 'queued'): number | undefined {
    const own = kind === 'blocked' ? this.#prepared.maxBlockedMinutes : this.#prepared.maxQueuedMinutes;
    const { maxBlockedMinutes, maxQueuedMinutes } = this.input.guards;
    const minutes = own ?? (kind === 'blocked' ? maxBlockedMinutes : maxQueuedMinutes);
    return minutes > 0 ? minutes * 60_000 : undefined;
  }

  /**
   * Records, plans and submits the next addition of tasks, one after another so each one's tasks
   * follow the last; Batch refusing some fails the job.
   */
  *#submitAdded(): Step {
    const [next, ...rest] = this.#state.toSubmit;
    const { set, first, count } = next!;
    const chunks = (yield this.#call(ACTIVITY.stageAddedTasks, {
      jobId: this.#jobId,
      set,
      first,
      count,
    })) as number;
    if (chunks > 0) {
      const summaries = yield* submitRange(
        this.context,
        { jobId: this.#jobId, from: 0, to: chunks, set },
        this.#retry,
      );
      throwIfRejected(summaries);
    }
    this.#state = { ...this.#state, toSubmit: rest, submittedSets: [...this.#state.submittedSets, set] };
  }

  /** Ends a job none of whose tasks started in time, saying what its pool looks like. */
  *#queuedTooLong(limit: number): Step<never> {
    const pool = (yield this.#call(ACTIVITY.describePool, { jobId: this.#jobId })) as string;
    throw new JobEnding('fail', {
      condition: 'QUEUED_TOO_LONG',
      message: `no task started within ${minutesText(limit)} of being queued: ${pool}`,
    });
  }

  get #prepared(): PreparedJob {
    const prepared = this.#state.prepared;
    if (!prepared) throw new Error('the job has not been prepared');
    return prepared;
  }

  #call(name: string, payload: unknown): Task {
    return this.context.df.callActivityWithRetry(name, this.#retry, payload);
  }

  /** Runs a step that may refuse the job; a refusal ends it with the step's own reason. */
  *#step<T extends object>(name: string): Step<T> {
    const result = (yield this.#call(name, { jobId: this.#jobId })) as StepResult<T>;
    if (result.outcome === 'done') return result;
    throw new JobEnding('fail', result.outcome === 'failed' ? result.failure : undefined);
  }

  *#record(to: JobStatus, message: string, extra: Partial<StatusChangeRequest> = {}): Step {
    const request: StatusChangeRequest = { jobId: this.#jobId, to, message, ...extra };
    yield this.#call(ACTIVITY.recordStatus, request);
    this.#state = { ...this.#state, status: to };
  }

  /**
   * Waits for the next signal, the deadline, or `also` (a retry timer), and folds the signal into
   * the state. A cancel or the deadline ends the job here; a pause or resume is the caller's to
   * act on. A signal that does not parse is logged and dropped: it cannot have come from this app.
   *
   * A signal or the deadline may have come while the orchestration was busy elsewhere (an
   * activity). The SDK tells a task's completion only to the last Task.any it joined, so a new
   * Task.any would never hear of it: one already completed is taken as it is.
   */
  *#wait(
    also?: TimerTask,
  ): Step<
    { kind: 'also' } | { kind: 'pause'; by: string } | { kind: 'resume'; by: string } | { kind: 'news' }
  > {
    for (;;) {
      const waits: Task[] = [this.#signal];
      if (this.#deadline) waits.push(this.#deadline);
      if (also) waits.push(also);
      const winner =
        waits.find((task) => task.isCompleted) ?? ((yield this.context.df.Task.any(waits)) as Task);
      if (winner === this.#deadline) {
        also?.cancel();
        throw new JobEnding('timeout');
      }
      if (winner === also) return { kind: 'also' };
      const parsed = jobSignalSchema.safeParse(this.#signal.result);
      this.#signal = this.context.df.waitForExternalEvent(SIGNAL_EVENT);
      if (!parsed.success) {
        if (!this.context.df.isReplaying) this.context.warn(`job ${this.#jobId}: ignored a malformed signal`);
        continue;
      }
      const signal: JobSignal = parsed.data;
      const { state, effect } = foldSignal(this.#state, signal);
      this.#state = state;
      if (effect === 'cancel') {
        also?.cancel();
        throw new JobEnding('cancel');
      }
      if (signal.type === 'failJob') {
        also?.cancel();
        throw new JobEnding('fail', {
          condition: 'TASK_FAILED',
          message: `task ${signal.taskId} exited with ${signal.exitCode}, which fails the job`,
        });
      }
      if (effect === 'pause' || effect === 'resume')
        return { kind: effect, by: (signal as { by: string }).by };
      return { kind: 'news' };
    }
  }

  /** PAUSED: holds the job (its Batch job disabled) until resumed; a cancel or the deadline ends it. */
  *#hold(by: string): Step {
    const from = this.#state.status;
    if (this.#state.batchJob)
      yield this.#call(ACTIVITY.controlBatchJob, { jobId: this.#jobId, action: 'disable' });
    yield* this.#record('PAUSED', `paused by ${by}`);
    for (;;) {
      const heard = yield* this.#wait();
      if (heard.kind !== 'resume') continue;
      if (this.#state.batchJob)
        yield this.#call(ACTIVITY.controlBatchJob, { jobId: this.#jobId, action: 'enable' });
      yield* this.#record(from, `resumed by ${heard.by}`);
      return;
    }
  }

  #cancelDeadline(): void {
    if (this.#deadline && !this.#deadline.isCompleted) this.#deadline.cancel();
  }
}

/** The jobs holding an owner's slots, for a message: the first few, and how many more. */
const holdersText = (holders: readonly string[]) =>
  holders.slice(0, 3).join(', ') + (holders.length > 3 ? ` and ${holders.length - 3} more` : '');

/** A limit for a message: `90 minute(s)`, `1.5 minute(s)`. */
const minutesText = (ms: number) => `${Number((ms / 60_000).toFixed(2))} minute(s)`;

/**
 * Tasks Batch refused (a bad image, a bad resource file) fail the job, naming the first few; so do
 * tasks never sent because a secret they name was deleted after the job was submitted.
 */
function throwIfRejected(summaries: readonly SubmitSummary[]): void {
  const rejected = summaries.flatMap((summary) => summary.rejected);
  if (rejected.length === 0) return;
  const shown = rejected
    .slice(0, 5)
    .map((r) => `${r.taskId}: ${r.code} ${r.message}`)
    .join('; ');
  const secretsOnly = rejected.every((r) => r.code === 'SECRET_NOT_FOUND');
  throw new JobEnding('fail', {
    condition: secretsOnly ? 'INVALID_INPUT' : 'BATCH_ERROR',
    message: secretsOnly
      ? `${rejected.length} task(s) name a secret their owner no longer has: ${shown}`
      : `Batch refused ${rejected.length} task(s): ${shown}`,
  });
}

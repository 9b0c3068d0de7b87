import * as df from 'durable-functions';
import { z } from 'zod';
import type { OrchestrationContext, Task, TimerTask } from 'durable-functions';
import type { JobCondition, JobStatus } from '../domain/lifecycle.js';
import { ACTIVITY } from './activities.js';
import type {
  PreparedJob,
  SettledTasks,
  StepFailure,
  StepResult,
  SubmitSummary,
  StatusChangeRequest,
} from './activities.js';
import { jobSignalSchema, orchestrationInputSchema, SIGNAL_EVENT, type JobSignal } from './signals.js';

/** The sub-orchestration that submits a share of a very large job's chunks. */
export const SUBMIT_ORCHESTRATOR = 'submitTasksOrchestrator';

/** Input of {@link submitTasksOrchestrator}: chunks `[from, to)` of a job's plan. */
export const submitRangeSchema = z.strictObject({
  jobId: z.string().min(1),
  from: z.number().int().min(0),
  to: z.number().int().min(1),
});

/** See {@link submitRangeSchema}. */
export type SubmitRange = z.infer<typeof submitRangeSchema>;

/** Fans a range of chunks out to at most 64 submission activities. */
function* submitRange(
  context: OrchestrationContext,
  jobId: string,
  from: number,
  to: number,
  retry: df.RetryOptions,
): Generator<Task, SubmitSummary[], unknown> {
  const chunks = to - from;
  const per = Math.ceil(chunks / Math.min(chunks, MAX_SUBMIT_ACTIVITIES));
  const calls: Task[] = [];
  for (let start = from; start < to; start += per) {
    calls.push(
      context.df.callActivityWithRetry(ACTIVITY.submitChunks, retry, {
        jobId,
        from: start,
        to: Math.min(to, start + per),
      }),
    );
  }
  return (yield context.df.Task.all(calls)) as SubmitSummary[];
}

/** Submits a share of a very large job's chunks; returns what each activity reported. */
export function* submitTasksOrchestrator(
  context: OrchestrationContext,
): Generator<Task, SubmitSummary[], unknown> {
  const range = submitRangeSchema.parse(context.df.getInput());
  return yield* submitRange(context, range.jobId, range.from, range.to, retryOptions());
}

function retryOptions(): df.RetryOptions {
  const retry = new df.RetryOptions(2_000, 6);
  retry.backoffCoefficient = 2;
  retry.maxRetryIntervalInMilliseconds = 60_000;
  return retry;
}

/** What the orchestration returns: how the job ended. */
export interface JobOutcome {
  status: JobStatus;
  condition?: JobCondition;
}

// Submissions go out as at most this many activities, each taking a share of the chunks: a
// 100,000-task job is 1,000 chunks but 64 activities, which keeps the history small.
const MAX_SUBMIT_ACTIVITIES = 64;

type Step = Generator<Task, void, unknown>;

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
 * The job orchestration: one per job, instance id = job id. It walks the job through its
 * lifecycle, calling activities for everything that touches the world, and otherwise waits for
 * signals: task milestones (never single tasks, so a 10,000-task job's history stays a few
 * hundred events), and the user's cancel, pause and resume. Deterministic: time comes from
 * `context.df`, and everything it knows of the job comes from activities.
 */
export function* jobOrchestrator(context: OrchestrationContext): Generator<Task, JobOutcome, unknown> {
  const input = orchestrationInputSchema.parse(context.df.getInput());
  const { jobId } = input;
  const retry = retryOptions();

  let status: JobStatus = 'PENDING';
  let batchJob = false;
  let tasksRecorded = false;
  let deadline: TimerTask | undefined;
  let signal = context.df.waitForExternalEvent(SIGNAL_EVENT);
  let started = false;
  let allDone = false;
  let prepared: PreparedJob | undefined;
  // For a job submitted with completeWhenTasksFinish false: the user has said no tasks are coming.
  // Heard in any phase; acted on (sealing the Batch job) once the tasks are all in.
  let completeRequested = false;
  let sealed = false;

  const call = (name: string, payload: unknown) => context.df.callActivityWithRetry(name, retry, payload);

  function* record(to: JobStatus, message: string, extra: Partial<StatusChangeRequest> = {}): Step {
    const request: StatusChangeRequest = { jobId, to, message, ...extra };
    yield call(ACTIVITY.recordStatus, request);
    status = to;
  }

  /**
   * Waits for the next valid signal, or for the deadline or `also` (a backoff timer) to fire.
   * A signal that does not parse is logged and dropped: it cannot have come from this app.
   */
  function* next(also?: Task): Generator<Task, JobSignal | 'deadline' | 'also', unknown> {
    for (;;) {
      const waits: Task[] = [signal];
      if (deadline) waits.push(deadline);
      if (also) waits.push(also);
      const winner = (yield context.df.Task.any(waits)) as Task;
      if (winner === deadline) return 'deadline';
      if (winner === also) return 'also';
      const parsed = jobSignalSchema.safeParse(signal.result);
      signal = context.df.waitForExternalEvent(SIGNAL_EVENT);
      if (parsed.success) return parsed.data;
      if (!context.df.isReplaying) context.warn(`job ${jobId}: ignored a malformed signal`);
    }
  }

  /** Holds the job until resumed; a cancel or the deadline ends it. */
  function* hold(by: string): Generator<Task, void, unknown> {
    const from = status;
    if (batchJob) yield call(ACTIVITY.controlBatchJob, { jobId, action: 'disable' });
    yield* record('PAUSED', `paused by ${by}`);
    for (;;) {
      const news = yield* next();
      if (news === 'deadline') throw new JobEnding('timeout');
      if (news === 'also') continue;
      if (news.type === 'cancel') throw new JobEnding('cancel');
      if (news.type === 'tasks') {
        started ||= news.started;
        allDone ||= news.allDone;
        continue;
      }
      if (news.type === 'complete') {
        completeRequested = true;
        continue;
      }
      if (news.type !== 'resume') continue;
      if (batchJob) yield call(ACTIVITY.controlBatchJob, { jobId, action: 'enable' });
      yield* record(from, `resumed by ${news.by}`);
      return;
    }
  }

  function* blockedUntilReady(): Generator<Task, void, unknown> {
    let attempt = 0;
    for (;;) {
      const result = (yield call(ACTIVITY.ensureBatchJob, { jobId })) as StepResult<{ created: boolean }>;
      if (result.outcome === 'done') return;
      if (result.outcome === 'failed') throw new JobEnding('fail', result.failure);
      const { initialSeconds, maxSeconds } = input.blockedRetry;
      const waitMs =
        result.retryAfterMs ?? Math.min(maxSeconds, initialSeconds * 2 ** Math.min(attempt, 20)) * 1000;
      attempt++;
      if (status !== 'BLOCKED') yield* record('BLOCKED', `${result.code}: ${result.message}`);
      const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + waitMs));
      for (;;) {
        const news = yield* next(timer);
        if (news === 'also') break;
        if (news === 'deadline' || news.type === 'cancel') {
          timer.cancel();
          throw new JobEnding(news === 'deadline' ? 'timeout' : 'cancel');
        }
        if (news.type === 'pause') {
          timer.cancel();
          yield* hold(news.by);
          break;
        }
        if (news.type === 'complete') completeRequested = true;
      }
    }
  }

  function* submit(chunks: number): Generator<Task, void, unknown> {
    // A very large job's chunks go to sub-orchestrations, each fanning out its own share, so no
    // one history grows with the job's size.
    const perChild = input.submit.chunksPerSubOrchestration;
    let summaries: SubmitSummary[];
    if (chunks <= perChild) {
      summaries = yield* submitRange(context, jobId, 0, chunks, retry);
    } else {
      const children: Task[] = [];
      for (let from = 0, i = 0; from < chunks; from += perChild, i++) {
        const range: SubmitRange = { jobId, from, to: Math.min(chunks, from + perChild) };
        children.push(context.df.callSubOrchestrator(SUBMIT_ORCHESTRATOR, range, `${jobId}-submit-${i}`));
      }
      summaries = ((yield context.df.Task.all(children)) as SubmitSummary[][]).flat();
    }
    const rejected = summaries.flatMap((summary) => summary.rejected);
    if (rejected.length > 0) {
      const shown = rejected
        .slice(0, 5)
        .map((r) => `${r.taskId}: ${r.code} ${r.message}`)
        .join('; ');
      throw new JobEnding('fail', {
        condition: 'BATCH_ERROR',
        message: `Batch refused ${rejected.length} task(s): ${shown}`,
      });
    }
  }

  function* run(): Generator<Task, JobOutcome, unknown> {
    yield* record('PROCESSING_INPUTS', 'expanding the job and checking its inputs');
    const processed = (yield call(ACTIVITY.processInputs, { jobId })) as StepResult<{ job: PreparedJob }>;
    if (processed.outcome !== 'done') {
      throw new JobEnding('fail', processed.outcome === 'failed' ? processed.failure : undefined);
    }
    prepared = processed.job;
    tasksRecorded = true;
    if (prepared.timeoutMinutes !== undefined) {
      deadline = context.df.createTimer(
        new Date(context.df.currentUtcDateTime.getTime() + prepared.timeoutMinutes * 60_000),
      );
    }

    yield* record('STAGING_INPUTS', 'granting Batch access to the inputs and writing the plan');
    const staged = (yield call(ACTIVITY.stageInputs, { jobId })) as StepResult<{ chunks: number }>;
    if (staged.outcome !== 'done') {
      throw new JobEnding('fail', staged.outcome === 'failed' ? staged.failure : undefined);
    }

    yield* record('STAGING_JOB', `creating the Batch job on pool ${prepared.pool}`);
    yield* blockedUntilReady();
    batchJob = true;

    yield* record('SUBMITTING_JOB', `submitting ${prepared.taskCount} task(s)`);
    yield* submit(staged.chunks);
    yield* record('QUEUED', `${prepared.taskCount} task(s) queued on pool ${prepared.pool}`);

    for (;;) {
      if (!sealed && (prepared.completeWhenTasksFinish || completeRequested)) {
        yield call(ACTIVITY.sealBatchJob, { jobId });
        sealed = true;
      }
      if (started && status === 'QUEUED') yield* record('RUNNING', 'tasks are running');
      if (allDone && status === 'RUNNING' && (prepared.completeWhenTasksFinish || completeRequested))
        return yield* finish();
      const news = yield* next();
      if (news === 'deadline') throw new JobEnding('timeout');
      if (news === 'also') continue;
      switch (news.type) {
        case 'tasks':
          started ||= news.started || news.allDone;
          allDone ||= news.allDone;
          break;
        case 'cancel':
          throw new JobEnding('cancel');
        case 'pause':
          yield* hold(news.by);
          break;
        case 'resume':
          break;
        case 'complete':
          completeRequested = true;
          break;
      }
    }
  }

  /** Every task is final: stop the Batch job, archive, and say how it went. */
  function* finish(): Generator<Task, JobOutcome, unknown> {
    yield call(ACTIVITY.controlBatchJob, { jobId, action: 'terminate' });
    const settled = (yield call(ACTIVITY.settleTasks, { jobId, leftover: 'SKIPPED' })) as SettledTasks;
    yield* record('ARCHIVING', 'collecting the outputs');
    yield call(ACTIVITY.archiveOutputs, { jobId });
    cancelDeadline();
    const { counts, exitCodes } = settled;
    if (counts.FAILED > 0 || counts.SKIPPED > 0 || counts.CANCELLED > 0) {
      const parts = [
        counts.FAILED > 0 ? `${counts.FAILED} failed` : '',
        counts.SKIPPED > 0 ? `${counts.SKIPPED} skipped` : '',
        counts.CANCELLED > 0 ? `${counts.CANCELLED} ended by Batch` : '',
      ].filter(Boolean);
      const condition: JobCondition = counts.FAILED > 0 || counts.SKIPPED > 0 ? 'TASK_FAILED' : 'BATCH_ERROR';
      yield* record(
        'FAILED',
        `${parts.join(', ')} of ${counts.SUCCEEDED + counts.FAILED + counts.SKIPPED + counts.CANCELLED} task(s)`,
        {
          condition,
          ...(Object.keys(exitCodes).length > 0 ? { exitCodes } : {}),
        },
      );
      return { status: 'FAILED', condition };
    }
    yield* record('FINISHED', `${counts.SUCCEEDED} task(s) succeeded`, { condition: 'NORMAL_COMPLETION' });
    return { status: 'FINISHED', condition: 'NORMAL_COMPLETION' };
  }

  function cancelDeadline(): void {
    if (deadline && !deadline.isCompleted) deadline.cancel();
  }

  /** Ends the job early: stops what runs, settles the task records, records the final status. */
  function* end(ending: JobEnding): Generator<Task, JobOutcome, unknown> {
    cancelDeadline();
    if (batchJob) yield call(ACTIVITY.controlBatchJob, { jobId, action: 'terminate' });
    if (tasksRecorded) yield call(ACTIVITY.settleTasks, { jobId, leftover: 'CANCELLED' });
    switch (ending.kind) {
      case 'cancel':
        yield* record('CANCELLED', 'cancelled by the user', { condition: 'CANCELLED_BY_USER' });
        return { status: 'CANCELLED', condition: 'CANCELLED_BY_USER' };
      case 'timeout':
        yield* record('FAILED', `ran longer than its ${prepared?.timeoutMinutes} minute limit`, {
          condition: 'TIMEOUT',
        });
        return { status: 'FAILED', condition: 'TIMEOUT' };
      case 'fail': {
        const failure = ending.failure ?? { condition: 'INTERNAL_ERROR', message: 'the job could not go on' };
        yield* record('FAILED', failure.message, { condition: failure.condition });
        return { status: 'FAILED', condition: failure.condition };
      }
    }
  }

  try {
    return yield* run();
  } catch (error) {
    if (error instanceof JobEnding) return yield* end(error);
    // An activity failed past its retries: the job cannot go on, and says why.
    const message = error instanceof Error ? error.message : String(error);
    return yield* end(
      new JobEnding('fail', {
        condition: batchJob ? 'BATCH_ERROR' : 'INTERNAL_ERROR',
        message: `stopped in ${status}: ${message.slice(0, 1000)}`,
      }),
    );
  }
}

import { ConflictError, ValidationError } from '../errors.js';

/**
 * The job and task lifecycles as pure rules: which status may follow which. Storage, orchestration
 * and the API all ask these functions, so a status can never change in a way one of them forbids.
 * There is no I/O and no clock here: every decision depends only on the arguments.
 */

/**
 * Every status a job can have, in the order listings and {@link allowedJobTransitions} use: the
 * active path, then the two holds, then the final statuses.
 */
export const JOB_STATUSES = [
  'PENDING',
  'PROCESSING_INPUTS',
  'STAGING_INPUTS',
  'STAGING_JOB',
  'SUBMITTING_JOB',
  'QUEUED',
  'RUNNING',
  'ARCHIVING',
  'BLOCKED',
  'PAUSED',
  'FINISHED',
  'CANCELLED',
  'FAILED',
] as const;

/** A job's status; see {@link JOB_STATUSES}. */
export type JobStatus = (typeof JOB_STATUSES)[number];

/** The statuses a job passes through on its way to FINISHED, in order. */
export const ACTIVE_PATH = [
  'PENDING',
  'PROCESSING_INPUTS',
  'STAGING_INPUTS',
  'STAGING_JOB',
  'SUBMITTING_JOB',
  'QUEUED',
  'RUNNING',
  'ARCHIVING',
] as const satisfies readonly JobStatus[];

/** A status on the active path: the only kind a BLOCKED or PAUSED job can resume to. */
export type ActiveStatus = (typeof ACTIVE_PATH)[number];

/** The statuses a job never leaves. */
export const FINAL_STATUSES = ['FINISHED', 'CANCELLED', 'FAILED'] as const satisfies readonly JobStatus[];

/** A status a job never leaves; see {@link FINAL_STATUSES}. */
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/** Whether a job in `status` is done for good. */
export function isFinal(status: JobStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

/**
 * Whether `status` is on the active path. Takes any string because a stored `resumeStatus` comes
 * from a record that may be corrupt, and a wrong one must not open a way out of a hold.
 */
export function isActiveStatus(status: string | undefined): status is ActiveStatus {
  return status !== undefined && (ACTIVE_PATH as readonly string[]).includes(status);
}

/**
 * Why a job reached its final status. Each final status accepts only some of them (see
 * {@link transitionJob}), so a FINISHED job always completed normally and a failure always says
 * what failed.
 */
export const JOB_CONDITIONS = [
  'NORMAL_COMPLETION',
  'TASK_FAILED',
  'TASK_CANCELLED',
  'CANCELLED_BY_USER',
  'TIMEOUT',
  'QUEUED_TOO_LONG',
  'BLOCKED_TOO_LONG',
  'INVALID_INPUT',
  'STAGING_FAILED',
  'BATCH_ERROR',
  'ARCHIVING_FAILED',
  'INTERNAL_ERROR',
] as const;

/** Why a job reached its final status; see {@link JOB_CONDITIONS}. */
export type JobCondition = (typeof JOB_CONDITIONS)[number];

/**
 * Where a job stands. `resumeStatus` is set only while the job is BLOCKED or PAUSED and names the
 * active status it left; `condition` is set only once the job is final.
 */
export interface JobLifecycle {
  status: JobStatus;
  resumeStatus?: ActiveStatus;
  condition?: JobCondition;
}

// SUBMITTING_JOB may go straight to RUNNING because the first task can start before the submitter
// records QUEUED; RUNNING never skips ARCHIVING so outputs are always archived before FINISHED.
const FORWARD: Readonly<Record<ActiveStatus, readonly JobStatus[]>> = {
  PENDING: ['PROCESSING_INPUTS'],
  PROCESSING_INPUTS: ['STAGING_INPUTS'],
  STAGING_INPUTS: ['STAGING_JOB'],
  STAGING_JOB: ['SUBMITTING_JOB'],
  SUBMITTING_JOB: ['QUEUED', 'RUNNING'],
  QUEUED: ['RUNNING'],
  RUNNING: ['ARCHIVING'],
  ARCHIVING: ['FINISHED'],
};

const ENDINGS: readonly JobStatus[] = ['CANCELLED', 'FAILED'];

function isHold(status: JobStatus): status is 'BLOCKED' | 'PAUSED' {
  return status === 'BLOCKED' || status === 'PAUSED';
}

/**
 * The statuses a job in `current` may move to, in {@link JOB_STATUSES} order (Tapis semantics):
 * - an active-path status may move one step forward (SUBMITTING_JOB also straight to RUNNING), or
 *   to BLOCKED, PAUSED, CANCELLED or FAILED;
 * - BLOCKED and PAUSED may move to each other, back to `resumeStatus`, one step forward from it, or
 *   to CANCELLED or FAILED; without a valid `resumeStatus` only to CANCELLED or FAILED;
 * - a final status moves nowhere, and no status moves to itself.
 */
export function allowedJobTransitions(current: JobLifecycle): JobStatus[] {
  const { status } = current;
  const allowed = new Set<JobStatus>();
  if (isActiveStatus(status)) {
    for (const next of FORWARD[status]) allowed.add(next);
    allowed.add('BLOCKED').add('PAUSED');
    for (const next of ENDINGS) allowed.add(next);
  } else if (isHold(status)) {
    for (const next of ENDINGS) allowed.add(next);
    // A hold without a known resume point cannot be resumed safely: guessing could rerun or skip a
    // stage, so such a job can only be ended.
    const resume = current.resumeStatus;
    if (isActiveStatus(resume)) {
      allowed.add(resume);
      for (const next of FORWARD[resume]) allowed.add(next);
      allowed.add(status === 'BLOCKED' ? 'PAUSED' : 'BLOCKED');
    }
  }
  return JOB_STATUSES.filter((next) => allowed.has(next));
}

/** Whether {@link transitionJob} would move a job in `current` to `to` (conditions aside). */
export function canTransitionJob(current: JobLifecycle, to: JobStatus): boolean {
  return allowedJobTransitions(current).includes(to);
}

const CONDITIONS_FOR: Readonly<Record<FinalStatus, readonly JobCondition[]>> = {
  FINISHED: ['NORMAL_COMPLETION'],
  CANCELLED: ['CANCELLED_BY_USER'],
  FAILED: JOB_CONDITIONS.filter((c) => c !== 'NORMAL_COMPLETION' && c !== 'CANCELLED_BY_USER'),
};

function conditionProblem(to: JobStatus, condition: JobCondition | undefined): string | undefined {
  if (!isFinal(to)) {
    return condition === undefined
      ? undefined
      : `a condition is set only for a final status; ${to} takes none, got ${String(condition)}`;
  }
  const accepted = CONDITIONS_FOR[to];
  if (condition !== undefined && accepted.includes(condition)) return undefined;
  const expected = accepted.length === 1 ? String(accepted[0]) : `one of ${accepted.join(', ')}`;
  return condition === undefined
    ? `${to} requires a condition: ${expected}`
    : `${to} requires condition ${expected}, got ${String(condition)}`;
}

/**
 * Moves a job from `current` to `to` and returns the new lifecycle; `current` is left untouched.
 *
 * The result names the active status a job left when it enters BLOCKED or PAUSED, keeps it while
 * the job moves between BLOCKED and PAUSED, and drops it otherwise. It carries `condition` only
 * for a final status, which must have one it accepts: FINISHED takes NORMAL_COMPLETION, CANCELLED
 * takes CANCELLED_BY_USER, FAILED takes any other; a non-final status takes none.
 *
 * @throws ConflictError `INVALID_TRANSITION` when {@link allowedJobTransitions} does not list `to`;
 *   `details` holds `from`, `to` and `allowed`. Checked before the condition, since a condition
 *   for a move that cannot happen is beside the point.
 * @throws ValidationError `INVALID_CONDITION` when `condition` is missing or wrong for `to`.
 */
export function transitionJob(current: JobLifecycle, to: JobStatus, condition?: JobCondition): JobLifecycle {
  const from = current.status;
  const allowed = allowedJobTransitions(current);
  if (!allowed.includes(to)) {
    throw new ConflictError(`job status cannot change from ${from} to ${to}`, 'INVALID_TRANSITION', {
      details: { from, to, allowed },
    });
  }
  const problem = conditionProblem(to, condition);
  if (problem !== undefined) {
    throw new ValidationError(problem, [{ path: 'condition', message: problem }], 'INVALID_CONDITION', {
      details: condition === undefined ? { status: to } : { status: to, condition },
    });
  }
  const next: JobLifecycle = { status: to };
  if (isHold(to)) {
    // allowedJobTransitions only lets a hold move to the other hold when its resumeStatus is valid.
    const resume = isActiveStatus(from) ? from : current.resumeStatus;
    if (resume !== undefined) next.resumeStatus = resume;
  }
  if (condition !== undefined) next.condition = condition;
  return next;
}

/**
 * Every status a task can have: PENDING waits on its dependencies; SKIPPED means a dependency
 * failed in a way that does not let its dependents run.
 */
export const TASK_STATUSES = [
  'PENDING',
  'QUEUED',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'SKIPPED',
  'CANCELLED',
] as const;

/** A task's status; see {@link TASK_STATUSES}. */
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** The statuses a task never leaves. */
export const FINAL_TASK_STATUSES = [
  'SUCCEEDED',
  'FAILED',
  'SKIPPED',
  'CANCELLED',
] as const satisfies readonly TaskStatus[];

/** Whether a task in `status` is done for good. */
export function isFinalTask(status: TaskStatus): boolean {
  return (FINAL_TASK_STATUSES as readonly string[]).includes(status);
}

/** A task's status as seen at one moment, with the attempt it belongs to (counting from 1). */
export interface TaskObservation {
  status: TaskStatus;
  attempt: number;
}

// Finals share a rank: no final status is newer than another, so a change between them is refused.
const TASK_RANK: Readonly<Record<TaskStatus, number>> = {
  PENDING: 0,
  QUEUED: 1,
  RUNNING: 2,
  SUCCEEDED: 3,
  FAILED: 3,
  SKIPPED: 3,
  CANCELLED: 3,
};

function isAttempt(attempt: number): boolean {
  return Number.isSafeInteger(attempt) && attempt >= 1;
}

/**
 * Decides what to do with a task observation, given the one already recorded. Signals arrive late,
 * twice and out of order, and an observer can miss statuses, so observations are ordered by
 * attempt first and by status rank (PENDING < QUEUED < RUNNING < any final) second:
 * - no `current`: `'apply'`;
 * - a lower attempt than `current`: `'ignore'` (a late signal from an earlier attempt);
 * - a higher attempt: `'refuse'` if `current` is final (finals never change), else `'apply'` — a
 *   new attempt is news whatever its status, which is how RUNNING → QUEUED (a retry or requeue)
 *   happens, and only this way;
 * - the same attempt and status: `'ignore'` (a duplicate);
 * - the same attempt, a lower rank: `'ignore'` (a late signal, e.g. QUEUED after RUNNING);
 * - the same attempt, both final but different: `'refuse'`;
 * - the same attempt, a higher rank: `'apply'`, skipping missed statuses, except RUNNING → SKIPPED,
 *   which is `'refuse'`: a task that ran was not skipped.
 *
 * An attempt that is not a whole number from 1 up cannot be ordered, so it is `'refuse'`.
 */
export function compareTaskObservation(
  current: TaskObservation | undefined,
  incoming: TaskObservation,
): 'apply' | 'ignore' | 'refuse' {
  if (!isAttempt(incoming.attempt)) return 'refuse';
  if (current === undefined) return 'apply';
  if (!isAttempt(current.attempt)) return 'refuse';
  if (incoming.attempt < current.attempt) return 'ignore';
  if (incoming.attempt > current.attempt) return isFinalTask(current.status) ? 'refuse' : 'apply';
  if (incoming.status === current.status) return 'ignore';
  const from = TASK_RANK[current.status];
  const to = TASK_RANK[incoming.status];
  if (to < from) return 'ignore';
  if (to === from) return 'refuse';
  if (current.status === 'RUNNING' && incoming.status === 'SKIPPED') return 'refuse';
  return 'apply';
}

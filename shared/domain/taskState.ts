import { isFinalTask, TASK_STATUSES, type JobCondition, type TaskStatus } from './lifecycle.js';

/** What Batch reports of one task (its states, not cloudjobs'). */
export interface BatchTaskView {
  state: 'active' | 'preparing' | 'running' | 'completed';
  result?: 'success' | 'failure';
  exitCode?: number;
  /** Batch's failure code, e.g. `FailureExitCode`, `TaskEnded`, `MaxWallClockTimeExpiry`. */
  failureCode?: string;
  retryCount: number;
  requeueCount: number;
}

/**
 * The cloudjobs status of a task as Batch sees it, and the attempt it belongs to. Batch counts
 * retries (non-zero exit) and requeues (a lost node, preemption) separately; together they only
 * grow, so their sum orders observations of one task even when signals arrive late or twice.
 * Batch keeps a task whose dependencies are unmet `active`, like a queued one: telling PENDING
 * from QUEUED needs the dependencies' states, see {@link pendingOrQueued}.
 */
export function statusFromBatch(task: BatchTaskView): { status: TaskStatus; attempt: number } {
  const attempt = 1 + task.retryCount + task.requeueCount;
  switch (task.state) {
    case 'active':
      return { status: 'QUEUED', attempt };
    case 'preparing':
    case 'running':
      return { status: 'RUNNING', attempt };
    case 'completed':
      if (task.result === 'success') return { status: 'SUCCEEDED', attempt };
      // A task ended by terminating its job (cancel, timeout) did not fail on its own; nor did
      // one that was still waiting when the job ended (Batch completes it without a result).
      if (task.failureCode === 'TaskEnded') return { status: 'CANCELLED', attempt };
      if (task.result === undefined && task.exitCode === undefined && task.failureCode === undefined)
        return { status: 'CANCELLED', attempt };
      return { status: 'FAILED', attempt };
  }
}

/** A task's place in the graph, as far as deciding what waits and what is skipped goes. */
export interface GraphTask {
  id: string;
  dependsOn: readonly string[];
  dependsOnRanges: ReadonlyArray<readonly [number, number]>;
  runDependentsOnFailure: boolean;
  /** Exit codes after which its dependents run though it failed. */
  runDependents?: readonly number[];
  /** Exit codes that fail the whole job. */
  failJob?: readonly number[];
}

/**
 * Whether each dependency lets a task run: SUCCEEDED does; FAILED does only when the failed task
 * allows its dependents to run (run-dependents-on-failure), as Batch's dependency action does.
 * A task cancelled on its own counts as FAILED: Batch ends it with a failure, which its
 * dependency action then applies to. One cancelled with its job lets nothing run.
 */
function dependencyOutcome(
  dependency: GraphTask | undefined,
  status: TaskStatus | undefined,
  cancelledAlone: boolean,
  exitCode?: number,
): 'satisfied' | 'waiting' | 'blocked' {
  if (status === 'SUCCEEDED') return 'satisfied';
  if (status === 'FAILED' && exitCode !== undefined && dependency?.runDependents?.includes(exitCode))
    return 'satisfied';
  if (status === 'FAILED' || (status === 'CANCELLED' && cancelledAlone))
    return dependency?.runDependentsOnFailure ? 'satisfied' : 'blocked';
  if (status === 'SKIPPED' || status === 'CANCELLED') return 'blocked';
  return 'waiting';
}

function* dependencies(task: GraphTask): Generator<string> {
  yield* task.dependsOn;
  for (const [start, end] of task.dependsOnRanges) for (let id = start; id <= end; id++) yield String(id);
}

/**
 * Tasks that will never run because a dependency failed (without run-dependents-on-failure, or
 * with an exit code that lets them run, `exitCodes` having each failed task's), was
 * skipped or cancelled: Batch leaves them `active` forever, so cloudjobs settles them itself,
 * transitively. Behind a failure, or a task the user cancelled on its own (`cancelledAlone`),
 * they are SKIPPED; behind a task cancelled with its job they are CANCELLED too, so a cancelled
 * job's unrun tasks read the same whichever signal comes first (Batch ending them with the job,
 * or this). `order` must put every task after its dependencies.
 */
export function tasksToSkip(
  tasks: readonly GraphTask[],
  order: readonly string[],
  statuses: ReadonlyMap<string, TaskStatus>,
  cancelledAlone: ReadonlySet<string> = new Set(),
  exitCodes: ReadonlyMap<string, number> = new Map(),
): Array<{ id: string; status: 'SKIPPED' | 'CANCELLED' }> {
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const effective = new Map(statuses);
  const settled: Array<{ id: string; status: 'SKIPPED' | 'CANCELLED' }> = [];
  for (const id of order) {
    const task = byId.get(id);
    const current = effective.get(id);
    if (!task || (current && isFinalTask(current))) continue;
    if (current === 'RUNNING') continue;
    let status: 'SKIPPED' | 'CANCELLED' | undefined;
    for (const dependency of dependencies(task)) {
      const outcome = effective.get(dependency);
      const alone = cancelledAlone.has(dependency);
      const code = exitCodes.get(dependency);
      if (dependencyOutcome(byId.get(dependency), outcome, alone, code) !== 'blocked') continue;
      status = outcome === 'CANCELLED' && !alone ? 'CANCELLED' : 'SKIPPED';
      if (status === 'CANCELLED') break;
    }
    if (status) {
      effective.set(id, status);
      settled.push({ id, status });
    }
  }
  return settled;
}

/** Whether an `active` task waits on dependencies (PENDING) or only for a slot (QUEUED). */
export function pendingOrQueued(
  task: GraphTask,
  byId: ReadonlyMap<string, GraphTask>,
  statuses: ReadonlyMap<string, TaskStatus>,
  cancelledAlone: ReadonlySet<string> = new Set(),
): 'PENDING' | 'QUEUED' {
  for (const dependency of dependencies(task)) {
    const outcome = dependencyOutcome(
      byId.get(dependency),
      statuses.get(dependency),
      cancelledAlone.has(dependency),
    );
    if (outcome !== 'satisfied') return 'PENDING';
  }
  return 'QUEUED';
}

/** Counts of a job's tasks by status. */
export type StatusCounts = Record<TaskStatus, number>;

/** Counts tasks by status, every status present. */
export function countStatuses(statuses: Iterable<TaskStatus>): StatusCounts {
  const counts = Object.fromEntries(TASK_STATUSES.map((status) => [status, 0])) as StatusCounts;
  for (const status of statuses) counts[status]++;
  return counts;
}

/**
 * What a job's task counts mean for the job: a milestone the orchestration waits for. Every task
 * final is `allDone`, with `failed` naming whether any task failed (a skipped task means one did).
 */
export function progressOf(
  counts: StatusCounts,
  taskCount: number,
): { started: boolean; allDone: boolean; failed: boolean } {
  const final = counts.SUCCEEDED + counts.FAILED + counts.SKIPPED + counts.CANCELLED;
  return {
    started: counts.RUNNING > 0 || final > 0,
    allDone: taskCount > 0 && final >= taskCount,
    failed: counts.FAILED > 0,
  };
}

/** How a job whose tasks have all ended comes out: see {@link judgeTasks}. */
export interface TasksVerdict {
  status: 'FINISHED' | 'FAILED';
  condition: JobCondition;
  message: string;
}

/**
 * How a job whose tasks have all ended comes out. It FINISHES when every task succeeded, or when
 * the rest succeeded and the job allows tasks cancelled on their own (`cancelledAlone` of the
 * CANCELLED ones were). Otherwise it FAILS: TASK_FAILED when a task failed, BATCH_ERROR when
 * Batch ended tasks nobody cancelled, TASK_CANCELLED when a cancelled task (and what it kept
 * from running) is all that went wrong.
 */
export function judgeTasks(
  counts: StatusCounts,
  cancelledAlone: number,
  allowCancelled: boolean,
): TasksVerdict {
  const alone = Math.min(cancelledAlone, counts.CANCELLED);
  const byBatch = counts.CANCELLED - alone;
  const parts = [
    counts.FAILED > 0 ? `${counts.FAILED} failed` : '',
    counts.SKIPPED > 0 ? `${counts.SKIPPED} skipped` : '',
    alone > 0 ? `${alone} cancelled` : '',
    byBatch > 0 ? `${byBatch} ended by Batch` : '',
  ].filter(Boolean);
  const total = counts.SUCCEEDED + counts.FAILED + counts.SKIPPED + counts.CANCELLED;
  if (counts.FAILED > 0 || counts.SKIPPED > 0 || byBatch > 0 || (alone > 0 && !allowCancelled)) {
    const condition: JobCondition =
      counts.FAILED > 0
        ? 'TASK_FAILED'
        : byBatch > 0
          ? 'BATCH_ERROR'
          : alone > 0
            ? 'TASK_CANCELLED'
            : 'TASK_FAILED';
    return { status: 'FAILED', condition, message: `${parts.join(', ')} of ${total} task(s)` };
  }
  return {
    status: 'FINISHED',
    condition: 'NORMAL_COMPLETION',
    message: `${counts.SUCCEEDED} task(s) succeeded${alone > 0 ? `, ${alone} cancelled` : ''}`,
  };
}

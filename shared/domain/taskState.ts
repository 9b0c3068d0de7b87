import { isFinalTask, TASK_STATUSES, type TaskStatus } from './lifecycle.js';

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
}

/**
 * Whether each dependency lets a task run: SUCCEEDED does; FAILED does only when the failed task
 * allows its dependents to run (run-dependents-on-failure), as Batch's dependency action does.
 */
function dependencyOutcome(
  dependency: GraphTask | undefined,
  status: TaskStatus | undefined,
): 'satisfied' | 'waiting' | 'blocked' {
  if (status === 'SUCCEEDED') return 'satisfied';
  if (status === 'FAILED') return dependency?.runDependentsOnFailure ? 'satisfied' : 'blocked';
  if (status === 'SKIPPED' || status === 'CANCELLED') return 'blocked';
  return 'waiting';
}

function* dependencies(task: GraphTask): Generator<string> {
  yield* task.dependsOn;
  for (const [start, end] of task.dependsOnRanges) for (let id = start; id <= end; id++) yield String(id);
}

/**
 * Tasks that will never run because a dependency failed (without run-dependents-on-failure), was
 * skipped or cancelled: Batch leaves them `active` forever, so cloudjobs settles them itself,
 * transitively. Behind a failure they are SKIPPED; behind a cancelled task they are CANCELLED
 * too, so a cancelled job's unrun tasks read the same whichever signal comes first (Batch ending
 * them with the job, or this). `order` must put every task after its dependencies.
 */
export function tasksToSkip(
  tasks: readonly GraphTask[],
  order: readonly string[],
  statuses: ReadonlyMap<string, TaskStatus>,
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
      if (dependencyOutcome(byId.get(dependency), outcome) !== 'blocked') continue;
      status = outcome === 'CANCELLED' ? 'CANCELLED' : 'SKIPPED';
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
): 'PENDING' | 'QUEUED' {
  for (const dependency of dependencies(task)) {
    if (dependencyOutcome(byId.get(dependency), statuses.get(dependency)) !== 'satisfied') return 'PENDING';
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

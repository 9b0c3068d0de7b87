import { dependencyAction, dependencyIds } from './dependencies.js';
import type { TaskAttempt } from './executor.js';
import type { FailureInfo, JobRecord, TaskRecord } from './model.js';

/** A task in memory: its record plus the scheduler's view of it. */
export interface TaskEntry {
  record: TaskRecord;
  key: string;
  /** Dependencies not yet satisfied. */
  unsatisfied: number;
  /** A dependency failed and blocks this task: it stays active and never runs, as on Batch. */
  blocked: boolean;
  dependents: TaskEntry[];
  attempt?: TaskAttempt;
  /** Its run while it is in its job's `running`: settles once it has left it, whatever happened. */
  run?: Promise<void>;
  /** What the current stop of the running attempt means. */
  stopIntent?: { kind: 'requeue' } | { kind: 'terminate'; failure: FailureInfo };
  queued: boolean;
  slots: number;
}

/** A job in memory: its tasks in the order they were added, and those ready or running. */
export interface JobEntry {
  record: JobRecord;
  tasks: Map<string, TaskEntry>;
  order: TaskEntry[];
  /** Dependents waiting for tasks not added yet, by lower-case id. */
  waiting: Map<string, TaskEntry[]>;
  /** Tasks whose dependencies are met, oldest first; `readyHead` is the next to look at. */
  ready: TaskEntry[];
  readyHead: number;
  running: Set<TaskEntry>;
  wallClock?: NodeJS.Timeout;
}

export function newJobEntry(job: JobRecord): JobEntry {
  return {
    record: job,
    tasks: new Map(),
    order: [],
    waiting: new Map(),
    ready: [],
    readyHead: 0,
    running: new Set(),
  };
}

/**
 * Indexes a task for scheduling: its dependencies, its dependents, and the ready queue. Tasks may
 * arrive before the tasks they depend on (Batch accepts that), so a dependency not seen yet is
 * remembered in `waiting` and resolved when it is added. Returns whether any task became ready.
 */
export function linkTask(job: JobEntry, record: TaskRecord): boolean {
  const key = record.spec.id.toLowerCase();
  const task: TaskEntry = {
    record,
    key,
    unsatisfied: 0,
    blocked: false,
    dependents: [],
    queued: false,
    slots: record.spec.requiredSlots ?? 1,
  };
  job.tasks.set(key, task);
  job.order.push(task);
  for (const id of dependencyIds(record.spec)) {
    const dependency = job.tasks.get(id.toLowerCase());
    if (dependency?.record.state === 'completed') {
      if (taskOutcome(dependency) === 'block') task.blocked = true;
      continue;
    }
    task.unsatisfied++;
    if (dependency) dependency.dependents.push(task);
    else {
      const list = job.waiting.get(id.toLowerCase()) ?? [];
      list.push(task);
      job.waiting.set(id.toLowerCase(), list);
    }
  }
  let ready = false;
  const waiters = job.waiting.get(key);
  if (waiters) {
    job.waiting.delete(key);
    if (record.state === 'completed') {
      const outcome = taskOutcome(task);
      for (const waiter of waiters) ready = resolveDependency(job, waiter, outcome) || ready;
    } else {
      task.dependents.push(...waiters);
    }
  }
  return enqueueIfReady(job, task) || ready;
}

/** What a completed task means for its dependents, per its result and exit conditions. */
export function taskOutcome(task: TaskEntry): 'satisfy' | 'block' {
  const exec = task.record.executionInfo;
  const preProcessing = exec.failureInfo !== undefined && exec.exitCode === undefined;
  return dependencyAction(task.record.spec, exec.result, exec.exitCode, preProcessing);
}

/** Passes a completed task's outcome to its dependents. Returns whether any became ready. */
export function releaseDependents(job: JobEntry, task: TaskEntry): boolean {
  const outcome = taskOutcome(task);
  let ready = false;
  for (const dependent of task.dependents) ready = resolveDependency(job, dependent, outcome) || ready;
  task.dependents = [];
  return ready;
}

function resolveDependency(job: JobEntry, task: TaskEntry, outcome: 'satisfy' | 'block'): boolean {
  task.unsatisfied--;
  if (outcome === 'block') task.blocked = true;
  return enqueueIfReady(job, task);
}

/** Queues a task that may run now. Returns whether it was queued. */
export function enqueueIfReady(job: JobEntry, task: TaskEntry): boolean {
  if (
    task.queued ||
    task.blocked ||
    task.unsatisfied > 0 ||
    task.record.state !== 'active' ||
    job.running.has(task)
  )
    return false;
  task.queued = true;
  job.ready.push(task);
  return true;
}

/** A job's tasks by state, as Batch's `taskcounts` reports them. */
export interface TaskCounts {
  active: number;
  running: number;
  completed: number;
  succeeded: number;
  failed: number;
}

export function countTasks(job: JobEntry): TaskCounts {
  const counts = { active: 0, running: 0, completed: 0, succeeded: 0, failed: 0 };
  for (const task of job.order) {
    const state = task.record.state;
    if (state === 'completed') {
      counts.completed++;
      if (task.record.executionInfo.result === 'success') counts.succeeded++;
      else if (task.record.executionInfo.result === 'failure') counts.failed++;
    } else if (state === 'running' || state === 'preparing') counts.running++;
    else counts.active++;
  }
  return counts;
}

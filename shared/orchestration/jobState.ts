import type { JobStatus } from '../domain/lifecycle.js';
import type { PreparedJob } from './activities.js';
import type { JobSignal } from './signals.js';

/**
 * What a job's orchestration knows of its job, in one record: everything its decisions rest on.
 * It changes in two ways only: the orchestration records a status (or a step's result), and a
 * signal is folded in by {@link foldSignal}. Pure, so replays rebuild it exactly.
 */
export interface JobState {
  /** The status last recorded. */
  status: JobStatus;
  /** What processing the inputs found; absent until then. */
  prepared?: PreparedJob;
  /** The tasks have records: a job that ends early settles them. */
  tasksRecorded: boolean;
  /** A Batch job exists: a job that ends early stops it, a paused one disables it. */
  batchJob: boolean;
  /** Batch has been told no more tasks are coming, so the job completes with its last task. */
  sealed: boolean;
  /** Milestones heard from the tasks; states, not counts, so hearing one twice changes nothing. */
  started: boolean;
  allDone: boolean;
  /** The user has said no more tasks are coming (a job opened with completeWhenTasksFinish false). */
  completeRequested: boolean;
  /** Additions of tasks heard of, not yet submitted; they are submitted in order of `set`. */
  toSubmit: Array<{ set: number; first: number; count: number }>;
  /** Additions submitted: heard of again, they change nothing. */
  submittedSets: number[];
}

/** A new job's state. */
export function initialJobState(): JobState {
  return {
    status: 'PENDING',
    tasksRecorded: false,
    batchJob: false,
    sealed: false,
    started: false,
    allDone: false,
    completeRequested: false,
    toSubmit: [],
    submittedSets: [],
  };
}

/**
 * What a signal asks of the orchestration beyond the state it leaves: end the job (`cancel`),
 * hold it (`pause`), release it (`resume`), or nothing more.
 */
export type SignalEffect = 'none' | 'cancel' | 'fail' | 'pause' | 'resume';

/**
 * Folds a signal into the job's state, the same way wherever the orchestration waits. Milestones
 * and /complete are remembered in every phase, so news that arrives while a job is paused or
 * blocked is acted on once it goes on; a pause of a paused job and a resume of one that is not
 * paused change nothing.
 */
export function foldSignal(state: JobState, signal: JobSignal): { state: JobState; effect: SignalEffect } {
  switch (signal.type) {
    case 'tasks':
      return {
        // A job whose tasks are all done has started, even if that news was lost.
        state: {
          ...state,
          started: state.started || signal.started || signal.allDone,
          allDone: state.allDone || signal.allDone,
        },
        effect: 'none',
      };
    case 'complete':
      return { state: { ...state, completeRequested: true }, effect: 'none' };
    case 'tasksAdded': {
      const known =
        state.submittedSets.includes(signal.set) || state.toSubmit.some((s) => s.set === signal.set);
      if (known) return { state, effect: 'none' };
      // More tasks: whatever was said of the job's tasks being all done no longer holds.
      return {
        state: {
          ...state,
          allDone: false,
          toSubmit: [...state.toSubmit, { set: signal.set, first: signal.first, count: signal.count }].sort(
            (a, b) => a.set - b.set,
          ),
        },
        effect: 'none',
      };
    }
    case 'cancel':
      return { state, effect: 'cancel' };
    case 'failJob':
      return { state, effect: 'fail' };
    case 'pause':
      return { state, effect: state.status === 'PAUSED' ? 'none' : 'pause' };
    case 'resume':
      return { state, effect: state.status === 'PAUSED' ? 'resume' : 'none' };
  }
}

/** No more tasks are coming: the job was meant to end with its tasks, or the user said so. */
export function tasksAreAllIn(state: JobState): boolean {
  return state.prepared !== undefined && (state.prepared.completeWhenTasksFinish || state.completeRequested);
}

/** What the orchestration does next while its tasks run, in this order, one at a time. */
export function nextWhileRunning(
  state: JobState,
): 'submit-added' | 'seal' | 'record-running' | 'finish' | 'wait' {
  // Each addition's tasks follow the previous one's, so they are staged in order, none skipped.
  if (state.toSubmit[0]?.set === state.submittedSets.length + 1) return 'submit-added';
  if (!state.sealed && tasksAreAllIn(state)) return 'seal';
  if (state.started && state.status === 'QUEUED') return 'record-running';
  if (state.allDone && state.status === 'RUNNING' && tasksAreAllIn(state)) return 'finish';
  return 'wait';
}

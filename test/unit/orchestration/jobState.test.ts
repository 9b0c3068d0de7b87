import { describe, expect, it } from 'vitest';
import type { JobStatus } from '../../../shared/domain/lifecycle.js';
import {
  foldSignal,
  initialJobState,
  nextWhileRunning,
  type JobState,
  type SignalEffect,
} from '../../../shared/orchestration/jobState.js';
import type { JobSignal } from '../../../shared/orchestration/signals.js';

/** The one rule for signals, wherever the orchestration waits: every signal in every phase. */

const prepared = { taskCount: 3, pool: 'cpu', completeWhenTasksFinish: true };
const WAITING: JobStatus[] = ['BLOCKED', 'PAUSED', 'QUEUED', 'RUNNING'];
const state = (status: JobStatus, over: Partial<JobState> = {}): JobState => ({
  ...initialJobState(),
  status,
  prepared,
  ...over,
});

const SIGNALS: Array<[string, JobSignal, (status: JobStatus) => SignalEffect, Partial<JobState>]> = [
  ['first task started', { type: 'tasks', started: true, allDone: false }, () => 'none', { started: true }],
  [
    'all tasks done',
    { type: 'tasks', started: true, allDone: true },
    () => 'none',
    { started: true, allDone: true },
  ],
  // All done implies started, even when the start's own news was lost.
  [
    'all done, start unheard',
    { type: 'tasks', started: false, allDone: true },
    () => 'none',
    { started: true, allDone: true },
  ],
  ['no news', { type: 'tasks', started: false, allDone: false }, () => 'none', {}],
  ['cancel', { type: 'cancel', by: 'alice' }, () => 'cancel', {}],
  ['pause', { type: 'pause', by: 'alice' }, (s) => (s === 'PAUSED' ? 'none' : 'pause'), {}],
  ['resume', { type: 'resume', by: 'alice' }, (s) => (s === 'PAUSED' ? 'resume' : 'none'), {}],
  ['complete', { type: 'complete', by: 'alice' }, () => 'none', { completeRequested: true }],
];

describe('folding a signal into the job state', () => {
  it.each(
    WAITING.flatMap((status) =>
      SIGNALS.map(([name, signal, effect, changes]) => ({ status, name, signal, effect, changes })),
    ),
  )('in $status, $name', ({ status, signal, effect, changes }) => {
    const before = state(status);
    const folded = foldSignal(before, signal);
    expect(folded.effect).toBe(effect(status));
    expect(folded.state).toEqual({ ...before, ...changes });
    // Pure: the state it was given is untouched, and the same fold gives the same answer.
    expect(before).toEqual(state(status));
    expect(foldSignal(before, signal)).toEqual(folded);
  });

  it('should treat milestones as states: heard twice, or out of order, they change nothing more', () => {
    const done = foldSignal(state('RUNNING'), { type: 'tasks', started: true, allDone: true }).state;
    expect(foldSignal(done, { type: 'tasks', started: true, allDone: false }).state).toEqual(done);
    expect(foldSignal(done, { type: 'tasks', started: true, allDone: true }).state).toEqual(done);
  });
});

describe('what the orchestration does next while its tasks run', () => {
  it.each<[string, Partial<JobState>, JobStatus, ReturnType<typeof nextWhileRunning>]>([
    ['seal first, once no more tasks can come', {}, 'QUEUED', 'seal'],
    ['wait when sealed and nothing is news', { sealed: true }, 'QUEUED', 'wait'],
    ['record RUNNING once a task has started', { sealed: true, started: true }, 'QUEUED', 'record-running'],
    ['finish when every task is done', { sealed: true, started: true, allDone: true }, 'RUNNING', 'finish'],
    ['not finish while paused', { sealed: true, started: true, allDone: true }, 'PAUSED', 'wait'],
    [
      'not seal nor finish an open job until /complete',
      { started: true, allDone: true, prepared: { ...prepared, completeWhenTasksFinish: false } },
      'RUNNING',
      'wait',
    ],
    [
      'seal an open job once /complete is heard',
      {
        started: true,
        allDone: true,
        completeRequested: true,
        prepared: { ...prepared, completeWhenTasksFinish: false },
      },
      'RUNNING',
      'seal',
    ],
  ])('should %s', (_what, over, status, next) => {
    expect(nextWhileRunning(state(status, over))).toBe(next);
  });
});

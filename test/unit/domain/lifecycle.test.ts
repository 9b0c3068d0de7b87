import { describe, expect, it } from 'vitest';
import { ConflictError, ValidationError, type AppError } from '../../../shared/errors.js';
import {
  ACTIVE_PATH,
  FINAL_STATUSES,
  FINAL_TASK_STATUSES,
  JOB_CONDITIONS,
  JOB_STATUSES,
  TASK_STATUSES,
  allowedJobTransitions,
  canTransitionJob,
  compareTaskObservation,
  isActiveStatus,
  isFinal,
  isFinalTask,
  transitionJob,
  type ActiveStatus,
  type JobCondition,
  type JobLifecycle,
  type JobStatus,
  type TaskObservation,
  type TaskStatus,
} from '../../../shared/domain/lifecycle.js';

// Written out by hand, not imported, so a change to the module's constants cannot change what the
// tests expect along with it.
const STATUSES: JobStatus[] = [
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
];
const ACTIVE: ActiveStatus[] = [
  'PENDING',
  'PROCESSING_INPUTS',
  'STAGING_INPUTS',
  'STAGING_JOB',
  'SUBMITTING_JOB',
  'QUEUED',
  'RUNNING',
  'ARCHIVING',
];
const CONDITIONS: JobCondition[] = [
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
];

interface Row {
  name: string;
  from: JobLifecycle;
  allowed: JobStatus[];
}

// Every lifecycle a job can be in, with the moves the rules allow from it, in JOB_STATUSES order.
const EXPECTED: Row[] = (
  [
    ['PENDING', ['PROCESSING_INPUTS', 'BLOCKED', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['PROCESSING_INPUTS', ['STAGING_INPUTS', 'BLOCKED', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['STAGING_INPUTS', ['STAGING_JOB', 'BLOCKED', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['STAGING_JOB', ['SUBMITTING_JOB', 'BLOCKED', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['SUBMITTING_JOB', ['QUEUED', 'RUNNING', 'BLOCKED', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['QUEUED', ['RUNNING', 'BLOCKED', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['RUNNING', ['ARCHIVING', 'BLOCKED', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['ARCHIVING', ['BLOCKED', 'PAUSED', 'FINISHED', 'CANCELLED', 'FAILED']],
    ['BLOCKED', ['CANCELLED', 'FAILED']],
    ['PAUSED', ['CANCELLED', 'FAILED']],
    ['BLOCKED/PENDING', ['PENDING', 'PROCESSING_INPUTS', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['BLOCKED/PROCESSING_INPUTS', ['PROCESSING_INPUTS', 'STAGING_INPUTS', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['BLOCKED/STAGING_INPUTS', ['STAGING_INPUTS', 'STAGING_JOB', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['BLOCKED/STAGING_JOB', ['STAGING_JOB', 'SUBMITTING_JOB', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['BLOCKED/SUBMITTING_JOB', ['SUBMITTING_JOB', 'QUEUED', 'RUNNING', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['BLOCKED/QUEUED', ['QUEUED', 'RUNNING', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['BLOCKED/RUNNING', ['RUNNING', 'ARCHIVING', 'PAUSED', 'CANCELLED', 'FAILED']],
    ['BLOCKED/ARCHIVING', ['ARCHIVING', 'PAUSED', 'FINISHED', 'CANCELLED', 'FAILED']],
    ['PAUSED/PENDING', ['PENDING', 'PROCESSING_INPUTS', 'BLOCKED', 'CANCELLED', 'FAILED']],
    ['PAUSED/PROCESSING_INPUTS', ['PROCESSING_INPUTS', 'STAGING_INPUTS', 'BLOCKED', 'CANCELLED', 'FAILED']],
    ['PAUSED/STAGING_INPUTS', ['STAGING_INPUTS', 'STAGING_JOB', 'BLOCKED', 'CANCELLED', 'FAILED']],
    ['PAUSED/STAGING_JOB', ['STAGING_JOB', 'SUBMITTING_JOB', 'BLOCKED', 'CANCELLED', 'FAILED']],
    ['PAUSED/SUBMITTING_JOB', ['SUBMITTING_JOB', 'QUEUED', 'RUNNING', 'BLOCKED', 'CANCELLED', 'FAILED']],
    ['PAUSED/QUEUED', ['QUEUED', 'RUNNING', 'BLOCKED', 'CANCELLED', 'FAILED']],
    ['PAUSED/RUNNING', ['RUNNING', 'ARCHIVING', 'BLOCKED', 'CANCELLED', 'FAILED']],
    ['PAUSED/ARCHIVING', ['ARCHIVING', 'BLOCKED', 'FINISHED', 'CANCELLED', 'FAILED']],
    ['FINISHED', []],
    ['CANCELLED', []],
    ['FAILED', []],
  ] satisfies Array<[string, JobStatus[]]>
).map(([name, allowed]: [string, JobStatus[]]) => {
  const [status, resumeStatus] = name.split('/') as [JobStatus, ActiveStatus?];
  const from: JobLifecycle = resumeStatus === undefined ? { status } : { status, resumeStatus };
  return { name, from, allowed };
});

/** The condition each final target needs in the pair table; any accepted one would do. */
function conditionFor(to: JobStatus): JobCondition | undefined {
  if (to === 'FINISHED') return 'NORMAL_COMPLETION';
  if (to === 'CANCELLED') return 'CANCELLED_BY_USER';
  if (to === 'FAILED') return 'TASK_FAILED';
  return undefined;
}

/** What the rules say the new lifecycle must be after an allowed move. */
function expectedAfter(from: JobLifecycle, to: JobStatus): JobLifecycle {
  const condition = conditionFor(to);
  if (to !== 'BLOCKED' && to !== 'PAUSED')
    return condition === undefined ? { status: to } : { status: to, condition };
  const resumeStatus =
    from.status === 'BLOCKED' || from.status === 'PAUSED' ? from.resumeStatus : (from.status as ActiveStatus);
  return { status: to, resumeStatus };
}

function caught(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, none was thrown');
}

const PAIRS = EXPECTED.flatMap((row) =>
  STATUSES.map((to) => ({
    name: row.name,
    from: row.from,
    to,
    allowed: row.allowed,
    ok: row.allowed.includes(to),
  })),
);

describe('job statuses', () => {
  it('should list the statuses, active path, final statuses and conditions in order', () => {
    expect(JOB_STATUSES).toEqual(STATUSES);
    expect(ACTIVE_PATH).toEqual(ACTIVE);
    expect(FINAL_STATUSES).toEqual(['FINISHED', 'CANCELLED', 'FAILED']);
    expect(JOB_CONDITIONS).toEqual(CONDITIONS);
  });

  it.each(STATUSES)('should tell whether %s is final', (status) => {
    expect(isFinal(status)).toBe(status === 'FINISHED' || status === 'CANCELLED' || status === 'FAILED');
  });

  it.each([
    ...ACTIVE.map((status) => [status, true] as const),
    ['BLOCKED', false],
    ['PAUSED', false],
    ['FINISHED', false],
    ['bogus', false],
    [undefined, false],
  ] as const)('should tell whether %s is an active status', (status, active) => {
    expect(isActiveStatus(status)).toBe(active);
  });

  it('should cover every lifecycle: each status once, each hold once per resume status', () => {
    expect(EXPECTED).toHaveLength(13 + 2 * 8);
    expect(PAIRS).toHaveLength((13 + 2 * 8) * 13);
  });
});

describe('job transitions', () => {
  it.each(EXPECTED)('should list the moves allowed from $name', ({ from, allowed }) => {
    expect(allowedJobTransitions(from)).toEqual(allowed);
  });

  it.each(PAIRS)('$name → $to: allowed $ok', ({ from, to, ok }) => {
    expect(canTransitionJob(from, to)).toBe(ok);
  });

  it.each(PAIRS.filter((pair) => pair.ok))(
    'should move $name → $to and return the new lifecycle',
    ({ from, to }) => {
      const result = transitionJob(from, to, conditionFor(to));
      expect(result).toStrictEqual(expectedAfter(from, to));
    },
  );

  it.each(PAIRS.filter((pair) => !pair.ok))(
    'should refuse $name → $to with INVALID_TRANSITION',
    ({ from, to, allowed }) => {
      const error = caught(() => transitionJob(from, to, conditionFor(to)));
      expect(error).toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({
        name: 'ConflictError',
        code: 'INVALID_TRANSITION',
        status: 409,
        retry: 'none',
        message: `job status cannot change from ${from.status} to ${to}`,
      });
      expect((error as AppError).details).toStrictEqual({ from: from.status, to, allowed });
    },
  );

  it('should give the documented message for FINISHED → RUNNING', () => {
    expect(() => transitionJob({ status: 'FINISHED', condition: 'NORMAL_COMPLETION' }, 'RUNNING')).toThrow(
      'job status cannot change from FINISHED to RUNNING',
    );
  });

  it.each(ACTIVE)('should ignore a resumeStatus left on the active status %s', (status) => {
    const stale: JobLifecycle = { status, resumeStatus: status === 'PENDING' ? 'RUNNING' : 'PENDING' };
    const plain = EXPECTED.find((row) => row.name === status);
    expect(allowedJobTransitions(stale)).toEqual(plain?.allowed);
    expect(transitionJob(stale, 'BLOCKED')).toStrictEqual({ status: 'BLOCKED', resumeStatus: status });
  });

  it.each([['BLOCKED'], ['PAUSED']] as const)(
    'should treat a %s job whose resumeStatus is not an active status as having none',
    (status) => {
      for (const resumeStatus of ['BLOCKED', 'PAUSED', 'FINISHED', 'bogus']) {
        const corrupt = { status, resumeStatus } as unknown as JobLifecycle;
        expect(allowedJobTransitions(corrupt)).toEqual(['CANCELLED', 'FAILED']);
      }
    },
  );

  it('should drop a previous condition and resumeStatus that no longer apply', () => {
    expect(transitionJob({ status: 'BLOCKED', resumeStatus: 'RUNNING' }, 'RUNNING')).toStrictEqual({
      status: 'RUNNING',
    });
    expect(transitionJob({ status: 'PAUSED', resumeStatus: 'QUEUED' }, 'FAILED', 'TIMEOUT')).toStrictEqual({
      status: 'FAILED',
      condition: 'TIMEOUT',
    });
  });

  it('should omit absent keys rather than set them to undefined', () => {
    expect(Object.keys(transitionJob({ status: 'PENDING' }, 'PROCESSING_INPUTS'))).toEqual(['status']);
    expect(Object.keys(transitionJob({ status: 'QUEUED' }, 'PAUSED')).sort()).toEqual([
      'resumeStatus',
      'status',
    ]);
    expect(
      Object.keys(transitionJob({ status: 'ARCHIVING' }, 'FINISHED', 'NORMAL_COMPLETION')).sort(),
    ).toEqual(['condition', 'status']);
  });

  it('should walk a whole job through holds to FINISHED', () => {
    const steps: Array<[JobStatus, JobCondition?]> = [
      ['PROCESSING_INPUTS'],
      ['STAGING_INPUTS'],
      ['BLOCKED'],
      ['PAUSED'],
      ['STAGING_JOB'],
      ['SUBMITTING_JOB'],
      ['RUNNING'],
      ['PAUSED'],
      ['BLOCKED'],
      ['ARCHIVING'],
      ['BLOCKED'],
      ['FINISHED', 'NORMAL_COMPLETION'],
    ];
    const seen: JobLifecycle[] = [];
    let job: JobLifecycle = { status: 'PENDING' };
    for (const [to, condition] of steps) {
      job = transitionJob(job, to, condition);
      seen.push(job);
    }
    expect(seen).toStrictEqual([
      { status: 'PROCESSING_INPUTS' },
      { status: 'STAGING_INPUTS' },
      { status: 'BLOCKED', resumeStatus: 'STAGING_INPUTS' },
      { status: 'PAUSED', resumeStatus: 'STAGING_INPUTS' },
      { status: 'STAGING_JOB' },
      { status: 'SUBMITTING_JOB' },
      { status: 'RUNNING' },
      { status: 'PAUSED', resumeStatus: 'RUNNING' },
      { status: 'BLOCKED', resumeStatus: 'RUNNING' },
      { status: 'ARCHIVING' },
      { status: 'BLOCKED', resumeStatus: 'ARCHIVING' },
      { status: 'FINISHED', condition: 'NORMAL_COMPLETION' },
    ]);
  });

  it('should never mutate the lifecycle it is given', () => {
    const held = Object.freeze({ status: 'BLOCKED', resumeStatus: 'STAGING_JOB' } as const);
    const moved = transitionJob(held, 'PAUSED');
    expect(moved).not.toBe(held);
    expect(held).toStrictEqual({ status: 'BLOCKED', resumeStatus: 'STAGING_JOB' });

    const running = { status: 'RUNNING' } as JobLifecycle;
    const archiving = transitionJob(running, 'ARCHIVING');
    expect(archiving).not.toBe(running);
    expect(running).toStrictEqual({ status: 'RUNNING' });

    const allowed = allowedJobTransitions(running);
    allowed.push('FINISHED');
    expect(canTransitionJob(running, 'FINISHED')).toBe(false);
  });
});

describe('job conditions', () => {
  // Which conditions each final status accepts, by hand from the rules.
  const ACCEPTS: Record<'FINISHED' | 'CANCELLED' | 'FAILED', JobCondition[]> = {
    FINISHED: ['NORMAL_COMPLETION'],
    CANCELLED: ['CANCELLED_BY_USER'],
    FAILED: [
      'TASK_FAILED',
      'TASK_CANCELLED',
      'TIMEOUT',
      'QUEUED_TOO_LONG',
      'BLOCKED_TOO_LONG',
      'INVALID_INPUT',
      'STAGING_FAILED',
      'BATCH_ERROR',
      'ARCHIVING_FAILED',
      'INTERNAL_ERROR',
    ],
  };
  // A lifecycle from which each final status is allowed, so only the condition decides.
  const ALLOWED_FROM: JobLifecycle = { status: 'ARCHIVING' };

  const cases = (['FINISHED', 'CANCELLED', 'FAILED'] as const).flatMap((to) =>
    CONDITIONS.map((condition) => ({ to, condition, ok: ACCEPTS[to].includes(condition) })),
  );

  it.each(cases.filter((c) => c.ok))('should accept $to with $condition', ({ to, condition }) => {
    expect(transitionJob(ALLOWED_FROM, to, condition)).toStrictEqual({ status: to, condition });
  });

  it.each(cases.filter((c) => !c.ok))('should refuse $to with $condition', ({ to, condition }) => {
    const error = caught(() => transitionJob(ALLOWED_FROM, to, condition));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'INVALID_CONDITION', status: 400 });
    const { issues, message } = error as ValidationError;
    expect(issues).toStrictEqual([{ path: 'condition', message }]);
    expect(message).toContain(to);
    expect(message).toContain(condition);
  });

  it.each(['FINISHED', 'CANCELLED', 'FAILED'] as const)('should refuse %s without a condition', (to) => {
    const error = caught(() => transitionJob(ALLOWED_FROM, to));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'INVALID_CONDITION', issues: [{ path: 'condition' }] });
    expect((error as Error).message).toContain(to);
  });

  it('should name the accepted conditions in the message', () => {
    expect(() => transitionJob(ALLOWED_FROM, 'FINISHED', 'TIMEOUT')).toThrow(/NORMAL_COMPLETION/);
    expect(() => transitionJob(ALLOWED_FROM, 'CANCELLED')).toThrow(/CANCELLED_BY_USER/);
    expect(() => transitionJob(ALLOWED_FROM, 'FAILED', 'NORMAL_COMPLETION')).toThrow(/TASK_FAILED/);
  });

  it('should refuse a condition it does not know', () => {
    const error = caught(() => transitionJob(ALLOWED_FROM, 'FAILED', 'OOPS' as JobCondition));
    expect(error).toMatchObject({ code: 'INVALID_CONDITION' });
  });

  it.each(PAIRS.filter((pair) => pair.ok && !['FINISHED', 'CANCELLED', 'FAILED'].includes(pair.to)))(
    'should refuse a condition on the non-final move $name → $to',
    ({ from, to }) => {
      const error = caught(() => transitionJob(from, to, 'NORMAL_COMPLETION'));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ code: 'INVALID_CONDITION', issues: [{ path: 'condition' }] });
    },
  );

  it('should refuse the transition before it looks at the condition', () => {
    for (const condition of [undefined, 'NORMAL_COMPLETION', 'TIMEOUT'] as const) {
      const error = caught(() => transitionJob({ status: 'RUNNING' }, 'FINISHED', condition));
      expect(error).toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({ code: 'INVALID_TRANSITION' });
    }
  });
});

describe('task statuses', () => {
  const TASKS: TaskStatus[] = ['PENDING', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'];
  const FINALS: TaskStatus[] = ['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'];

  it('should list the statuses and the final ones in order', () => {
    expect(TASK_STATUSES).toEqual(TASKS);
    expect(FINAL_TASK_STATUSES).toEqual(FINALS);
  });

  it.each(TASKS)('should tell whether %s is final', (status) => {
    expect(isFinalTask(status)).toBe(FINALS.includes(status));
  });

  type Verdict = 'apply' | 'ignore' | 'refuse';
  const A = 'apply';
  const I = 'ignore';
  const R = 'refuse';

  // Same attempt: rows are the recorded status, columns the incoming one, in TASKS order.
  const SAME_ATTEMPT: Record<TaskStatus, Verdict[]> = {
    //         PENDING QUEUED RUNNING SUCCEEDED FAILED SKIPPED CANCELLED
    PENDING: [I, A, A, A, A, A, A],
    QUEUED: [I, I, A, A, A, A, A],
    RUNNING: [I, I, I, A, A, R, A],
    SUCCEEDED: [I, I, I, I, R, R, R],
    FAILED: [I, I, I, R, I, R, R],
    SKIPPED: [I, I, I, R, R, I, R],
    CANCELLED: [I, I, I, R, R, R, I],
  };

  const sameAttempt = TASKS.flatMap((from) =>
    TASKS.map((to, column) => ({ from, to, verdict: SAME_ATTEMPT[from][column] })),
  );

  it.each(sameAttempt)('should $verdict $from → $to within one attempt', ({ from, to, verdict }) => {
    expect(compareTaskObservation({ status: from, attempt: 2 }, { status: to, attempt: 2 })).toBe(verdict);
  });

  const allPairs = TASKS.flatMap((from) => TASKS.map((to) => ({ from, to })));

  it.each(allPairs)('should ignore $to from an earlier attempt than $from', ({ from, to }) => {
    expect(compareTaskObservation({ status: from, attempt: 3 }, { status: to, attempt: 2 })).toBe('ignore');
    expect(compareTaskObservation({ status: from, attempt: 3 }, { status: to, attempt: 1 })).toBe('ignore');
  });

  it.each(allPairs)('should apply $to from a later attempt unless $from is final', ({ from, to }) => {
    const verdict = FINALS.includes(from) ? 'refuse' : 'apply';
    expect(compareTaskObservation({ status: from, attempt: 1 }, { status: to, attempt: 2 })).toBe(verdict);
    expect(compareTaskObservation({ status: from, attempt: 1 }, { status: to, attempt: 5 })).toBe(verdict);
  });

  it.each(TASKS)('should apply a first observation of %s', (status) => {
    expect(compareTaskObservation(undefined, { status, attempt: 1 })).toBe('apply');
    expect(compareTaskObservation(undefined, { status, attempt: 4 })).toBe('apply');
  });

  const named: Array<[string, TaskObservation | undefined, TaskObservation, Verdict]> = [
    ['a duplicate RUNNING', { status: 'RUNNING', attempt: 1 }, { status: 'RUNNING', attempt: 1 }, I],
    ['a duplicate SUCCEEDED', { status: 'SUCCEEDED', attempt: 1 }, { status: 'SUCCEEDED', attempt: 1 }, I],
    ['a late QUEUED after RUNNING', { status: 'RUNNING', attempt: 1 }, { status: 'QUEUED', attempt: 1 }, I],
    [
      'a late RUNNING after SUCCEEDED',
      { status: 'SUCCEEDED', attempt: 1 },
      { status: 'RUNNING', attempt: 1 },
      I,
    ],
    [
      'a late failure of attempt 1 after retry',
      { status: 'RUNNING', attempt: 2 },
      { status: 'FAILED', attempt: 1 },
      I,
    ],
    [
      'a late failure of attempt 1 after success',
      { status: 'SUCCEEDED', attempt: 2 },
      { status: 'FAILED', attempt: 1 },
      I,
    ],
    ['a retry requeue', { status: 'RUNNING', attempt: 1 }, { status: 'QUEUED', attempt: 2 }, A],
    ['a retry seen already running', { status: 'RUNNING', attempt: 1 }, { status: 'RUNNING', attempt: 2 }, A],
    [
      'a retry seen only when it succeeded',
      { status: 'RUNNING', attempt: 1 },
      { status: 'SUCCEEDED', attempt: 3 },
      A,
    ],
    ['a requeue while queued', { status: 'QUEUED', attempt: 1 }, { status: 'QUEUED', attempt: 2 }, A],
    ['a missed RUNNING', { status: 'QUEUED', attempt: 1 }, { status: 'SUCCEEDED', attempt: 1 }, A],
    ['a dependency failing', { status: 'PENDING', attempt: 1 }, { status: 'SKIPPED', attempt: 1 }, A],
    [
      'a requeue without a new attempt',
      { status: 'RUNNING', attempt: 2 },
      { status: 'QUEUED', attempt: 2 },
      I,
    ],
    [
      'a finished task running again',
      { status: 'SUCCEEDED', attempt: 1 },
      { status: 'RUNNING', attempt: 2 },
      R,
    ],
    ['a failed task retried', { status: 'FAILED', attempt: 1 }, { status: 'QUEUED', attempt: 2 }, R],
    [
      'a success turning into a failure',
      { status: 'SUCCEEDED', attempt: 1 },
      { status: 'FAILED', attempt: 1 },
      R,
    ],
    [
      'a cancellation after success',
      { status: 'SUCCEEDED', attempt: 1 },
      { status: 'CANCELLED', attempt: 1 },
      R,
    ],
    ['a running task skipped', { status: 'RUNNING', attempt: 1 }, { status: 'SKIPPED', attempt: 1 }, R],
    ['an attempt of 0', { status: 'QUEUED', attempt: 1 }, { status: 'RUNNING', attempt: 0 }, R],
    ['a fractional attempt', { status: 'QUEUED', attempt: 1 }, { status: 'RUNNING', attempt: 1.5 }, R],
    ['a NaN attempt', { status: 'QUEUED', attempt: 1 }, { status: 'RUNNING', attempt: Number.NaN }, R],
    ['a first observation with attempt 0', undefined, { status: 'QUEUED', attempt: 0 }, R],
    [
      'a recorded attempt that is not a number',
      { status: 'QUEUED', attempt: Number.NaN },
      { status: 'RUNNING', attempt: 1 },
      R,
    ],
  ];

  it.each(named)('should handle %s', (_name, current, incoming, verdict) => {
    expect(compareTaskObservation(current, incoming)).toBe(verdict);
  });

  it('should not mutate the observations it compares', () => {
    const current = Object.freeze({ status: 'RUNNING', attempt: 1 } as const);
    const incoming = Object.freeze({ status: 'QUEUED', attempt: 2 } as const);
    expect(compareTaskObservation(current, incoming)).toBe('apply');
    expect(current).toStrictEqual({ status: 'RUNNING', attempt: 1 });
    expect(incoming).toStrictEqual({ status: 'QUEUED', attempt: 2 });
  });
});

import { describe, expect, it } from 'vitest';
import { jobStatusChangedSchema } from '../../../shared/domain/events.js';
import { TASK_STATUSES, type TaskStatus } from '../../../shared/domain/lifecycle.js';
import {
  changeId,
  CLOUDEVENTS_JSON,
  DEFAULT_RETRY_SCHEDULE_SECONDS,
  jobStatusEvent,
  outcomeOf,
  parseRetrySchedule,
  retryDelayMs,
  RETRY_JITTER,
  toCloudEvent,
  toEmail,
  type JobFacts,
  type RecordedChange,
} from '../../../shared/domain/notifications.js';

const JOB: JobFacts = { id: 'job-42', name: 'render-frames', owner: 'alice', taskCount: 5 };

const counts = (some: Partial<Record<TaskStatus, number>>): Record<TaskStatus, number> => ({
  PENDING: 0,
  QUEUED: 0,
  RUNNING: 0,
  SUCCEEDED: 0,
  FAILED: 0,
  SKIPPED: 0,
  CANCELLED: 0,
  ...some,
});

const FAILED_CHANGE: RecordedChange = {
  sequence: 9,
  status: 'FAILED',
  previousStatus: 'RUNNING',
  condition: 'TASK_FAILED',
  message: 'task t-3 failed with exit code 2',
  at: '2026-11-23T10:15:30.000Z',
  taskCounts: counts({ SUCCEEDED: 3, FAILED: 1, SKIPPED: 1 }),
  exitCodes: { 't-3': 2 },
};

const RUNNING_CHANGE: RecordedChange = {
  sequence: 7,
  status: 'RUNNING',
  previousStatus: 'QUEUED',
  message: 'the first task started',
  at: '2026-11-23T10:05:00.000Z',
  taskCounts: counts({ RUNNING: 2, QUEUED: 3 }),
};

describe('retry delays', () => {
  const SCHEDULE = [5, 30, 300];

  it('should wait schedule[0] after the first failed attempt, and each later entry after the next ones', () => {
    expect(retryDelayMs(1, SCHEDULE, 0.5)).toBe(5_000);
    expect(retryDelayMs(2, SCHEDULE, 0.5)).toBe(30_000);
    expect(retryDelayMs(3, SCHEDULE, 0.5)).toBe(300_000);
  });

  it('should stray at most 20% either way: -20% at random 0 and just under +20% near 1', () => {
    expect(RETRY_JITTER).toBe(0.2);
    expect(retryDelayMs(1, [10], 0)).toBe(8_000);
    const high = retryDelayMs(1, [10], 0.999_999)!;
    expect(high).toBeGreaterThan(11_990);
    expect(high).toBeLessThanOrEqual(12_000);
    for (let i = 0; i < 100; i++) {
      const random = i / 100;
      const delay = retryDelayMs(2, SCHEDULE, random)!;
      expect(delay).toBeGreaterThanOrEqual(24_000);
      expect(delay).toBeLessThanOrEqual(36_000);
    }
  });

  it('should grow with random, so endpoints that failed together spread out', () => {
    expect(retryDelayMs(1, SCHEDULE, 0.1)!).toBeLessThan(retryDelayMs(1, SCHEDULE, 0.9)!);
  });

  it('should be undefined when the schedule is spent', () => {
    expect(retryDelayMs(4, SCHEDULE, 0.5)).toBeUndefined();
    expect(retryDelayMs(10, SCHEDULE, 0.5)).toBeUndefined();
    expect(retryDelayMs(1, [], 0.5)).toBeUndefined();
  });

  it('should be undefined before any attempt was made', () => {
    expect(retryDelayMs(0, SCHEDULE, 0.5)).toBeUndefined();
    expect(retryDelayMs(-1, SCHEDULE, 0.5)).toBeUndefined();
  });

  it('should allow an immediate retry and never a negative wait', () => {
    expect(retryDelayMs(1, [0], 0)).toBe(0);
    expect(retryDelayMs(1, [0], 0.99)).toBe(0);
  });
});

describe('the default retry schedule', () => {
  const startsAt = (schedule: readonly number[]) => {
    const times = [0];
    for (const wait of schedule) times.push(times.at(-1)! + wait);
    return times;
  };

  it('should make three quick tries first: at once, after 5 s, after 30 s more', () => {
    expect(DEFAULT_RETRY_SCHEDULE_SECONDS.slice(0, 2)).toEqual([5, 30]);
    expect(startsAt(DEFAULT_RETRY_SCHEDULE_SECONDS).slice(0, 3)).toEqual([0, 5, 35]);
  });

  it('should make nine attempts in all', () => {
    expect(DEFAULT_RETRY_SCHEDULE_SECONDS).toHaveLength(8);
    expect(startsAt(DEFAULT_RETRY_SCHEDULE_SECONDS)).toHaveLength(9);
    expect(retryDelayMs(8, DEFAULT_RETRY_SCHEDULE_SECONDS, 0.5)).toBeDefined();
    expect(retryDelayMs(9, DEFAULT_RETRY_SCHEDULE_SECONDS, 0.5)).toBeUndefined();
  });

  it('should spread its waits over more than a day and less than 30 hours, never shrinking', () => {
    const total = DEFAULT_RETRY_SCHEDULE_SECONDS.reduce((sum, wait) => sum + wait, 0);
    expect(total).toBeGreaterThan(24 * 3600);
    expect(total).toBeLessThan(30 * 3600);
    for (let i = 1; i < DEFAULT_RETRY_SCHEDULE_SECONDS.length; i++) {
      expect(DEFAULT_RETRY_SCHEDULE_SECONDS[i]).toBeGreaterThanOrEqual(
        DEFAULT_RETRY_SCHEDULE_SECONDS[i - 1]!,
      );
    }
  });

  it('should be what parseRetrySchedule makes of its own spelling', () => {
    expect(parseRetrySchedule(DEFAULT_RETRY_SCHEDULE_SECONDS.join(','))).toEqual([
      ...DEFAULT_RETRY_SCHEDULE_SECONDS,
    ]);
  });
});

describe('parsing a retry schedule', () => {
  it('should read comma-separated seconds, spaces and empty parts aside', () => {
    expect(parseRetrySchedule('5,30,300')).toEqual([5, 30, 300]);
    expect(parseRetrySchedule(' 5 , 30 ,300 ')).toEqual([5, 30, 300]);
    expect(parseRetrySchedule('1,,2,')).toEqual([1, 2]);
    expect(parseRetrySchedule('0')).toEqual([0]);
    expect(parseRetrySchedule('604800')).toEqual([604_800]);
  });

  it.each(['abc', '5,x,30', '-1', '5,-30', '604801', 'Infinity', '5;30', '5 30'])(
    'should refuse %j',
    (value) => {
      expect(() => parseRetrySchedule(value)).toThrow(/comma-separated waits in seconds/);
    },
  );
});

describe('attempt outcomes', () => {
  it.each([200, 201, 202, 204, 299])('should call %i delivered', (status) => {
    expect(outcomeOf(status)).toBe('delivered');
  });

  it('should call 410 gone', () => {
    expect(outcomeOf(410)).toBe('gone');
  });

  it.each([100, 199, 300, 301, 302, 304, 400, 401, 403, 404, 408, 409, 429, 500, 502, 503, 504, 0])(
    'should call %i failed',
    (status) => {
      expect(outcomeOf(status)).toBe('failed');
    },
  );
});

describe('job status events', () => {
  it('should tell the change as the history entry has it', () => {
    const event = jobStatusEvent(JOB, FAILED_CHANGE);
    expect(event).toEqual({
      id: 'job-42:9',
      type: 'job.status.changed',
      jobId: 'job-42',
      name: 'render-frames',
      owner: 'alice',
      previousStatus: 'RUNNING',
      status: 'FAILED',
      condition: 'TASK_FAILED',
      message: 'task t-3 failed with exit code 2',
      sequence: 9,
      taskCount: 5,
      taskCounts: counts({ SUCCEEDED: 3, FAILED: 1, SKIPPED: 1 }),
      exitCodes: { 't-3': 2 },
      at: '2026-11-23T10:15:30.000Z',
    });
    expect(jobStatusChangedSchema.parse(event)).toEqual(event);
  });

  it('should use <jobId>:<sequence> as its id', () => {
    expect(changeId('job-42', 3)).toBe('job-42:3');
    expect(jobStatusEvent(JOB, RUNNING_CHANGE).id).toBe('job-42:7');
  });

  it('should count every task status as zero when the entry kept no counts', () => {
    const event = jobStatusEvent(JOB, {
      sequence: 1,
      status: 'PENDING',
      message: 'submitted',
      at: FAILED_CHANGE.at,
    });
    expect(event.taskCounts).toEqual(Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])));
    expect(Object.keys(event.taskCounts).sort()).toEqual([...TASK_STATUSES].sort());
    expect(event).not.toHaveProperty('previousStatus');
    expect(event).not.toHaveProperty('condition');
    expect(event).not.toHaveProperty('exitCodes');
    expect(jobStatusChangedSchema.safeParse(event).success).toBe(true);
  });

  it('should not share the all-zero counts between events', () => {
    const first = jobStatusEvent(JOB, {
      sequence: 1,
      status: 'PENDING',
      message: 'submitted',
      at: FAILED_CHANGE.at,
    });
    first.taskCounts.PENDING = 5;
    const second = jobStatusEvent(JOB, {
      sequence: 1,
      status: 'PENDING',
      message: 'submitted',
      at: FAILED_CHANGE.at,
    });
    expect(second.taskCounts.PENDING).toBe(0);
  });
});

describe('CloudEvents', () => {
  it('should be a structured CloudEvents 1.0 event from /jobs/<id>', () => {
    const cloudEvent = toCloudEvent(jobStatusEvent(JOB, FAILED_CHANGE));
    expect(CLOUDEVENTS_JSON).toBe('application/cloudevents+json');
    expect(cloudEvent).toMatchObject({
      specversion: '1.0',
      id: 'job-42:9',
      source: '/jobs/job-42',
      type: 'cloudjobs.job.status.changed',
      subject: 'FAILED',
      time: '2026-11-23T10:15:30.000Z',
      datacontenttype: 'application/json',
    });
  });

  it('should carry the time of the change, not of the sending', () => {
    expect(toCloudEvent(jobStatusEvent(JOB, RUNNING_CHANGE)).time).toBe(RUNNING_CHANGE.at);
  });

  it('should carry the facts of the change in data, with links to the job', () => {
    const { data } = toCloudEvent(jobStatusEvent(JOB, FAILED_CHANGE));
    expect(data).toEqual({
      jobId: 'job-42',
      name: 'render-frames',
      owner: 'alice',
      previousStatus: 'RUNNING',
      status: 'FAILED',
      condition: 'TASK_FAILED',
      message: 'task t-3 failed with exit code 2',
      sequence: 9,
      taskCount: 5,
      taskCounts: counts({ SUCCEEDED: 3, FAILED: 1, SKIPPED: 1 }),
      exitCodes: { 't-3': 2 },
      links: { job: '/api/jobs/job-42', history: '/api/jobs/job-42/history' },
    });
  });

  it('should carry all-zero counts in data when the entry kept none', () => {
    const { data } = toCloudEvent(
      jobStatusEvent(JOB, { sequence: 1, status: 'PENDING', message: 'submitted', at: RUNNING_CHANGE.at }),
    );
    expect(data.taskCounts).toEqual(counts({}));
    expect(data).not.toHaveProperty('previousStatus');
  });

  it('should survive JSON unchanged', () => {
    const cloudEvent = toCloudEvent(jobStatusEvent(JOB, FAILED_CHANGE));
    expect(JSON.parse(JSON.stringify(cloudEvent))).toEqual(cloudEvent);
  });
});

describe('emails', () => {
  it('should name the job, its state and its condition in the subject', () => {
    const email = toEmail(jobStatusEvent(JOB, FAILED_CHANGE));
    expect(email.subject).toBe('[cloudjobs] render-frames FAILED (TASK_FAILED)');
    expect(toEmail(jobStatusEvent(JOB, RUNNING_CHANGE)).subject).toBe('[cloudjobs] render-frames RUNNING');
  });

  it('should say which job, from which state to which, and why', () => {
    const { text } = toEmail(jobStatusEvent(JOB, FAILED_CHANGE));
    expect(text).toContain('Job render-frames (job-42) is now FAILED, was RUNNING.');
    expect(text).toContain('Why: task t-3 failed with exit code 2');
    expect(text).toContain('Condition: TASK_FAILED');
    expect(text).toContain('At: 2026-11-23T10:15:30.000Z (change 9)');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('should leave out what the first change does not have', () => {
    const { text } = toEmail(
      jobStatusEvent(JOB, { sequence: 1, status: 'PENDING', message: 'submitted', at: RUNNING_CHANGE.at }),
    );
    expect(text).toContain('Job render-frames (job-42) is now PENDING.');
    expect(text).not.toContain('was ');
    expect(text).not.toContain('Condition:');
    expect(text).not.toContain('exit codes');
    expect(text).toMatch(/^Tasks: 5$/m);
  });

  it('should list the task counts that are not zero', () => {
    const { text } = toEmail(jobStatusEvent(JOB, FAILED_CHANGE));
    expect(text).toMatch(/^Tasks: 5 \(succeeded 3, failed 1, skipped 1\)$/m);
    expect(toEmail(jobStatusEvent(JOB, RUNNING_CHANGE)).text).toMatch(/^Tasks: 5 \(queued 3, running 2\)$/m);
  });

  it('should list failed tasks with their exit codes', () => {
    const { text } = toEmail(jobStatusEvent(JOB, { ...FAILED_CHANGE, exitCodes: { 't-3': 2, 't-4': 137 } }));
    expect(text).toMatch(/^Failed tasks and exit codes: t-3=2, t-4=137$/m);
  });

  it('should list at most 20 exit codes and end a longer list with an ellipsis', () => {
    const exitCodes = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i + 1}`, i + 1]));
    const twenty = toEmail(jobStatusEvent(JOB, { ...FAILED_CHANGE, exitCodes: exitCodes(20) })).text;
    const line20 = twenty.split('\n').find((l) => l.startsWith('Failed tasks'))!;
    expect(line20.split(', ')).toHaveLength(20);
    expect(line20).toContain('t20=20');
    expect(line20).not.toContain('…');

    const many = toEmail(jobStatusEvent(JOB, { ...FAILED_CHANGE, exitCodes: exitCodes(25) })).text;
    const line25 = many.split('\n').find((l) => l.startsWith('Failed tasks'))!;
    expect(line25).toContain('t1=1');
    expect(line25).toContain('t20=20');
    expect(line25).not.toContain('t21=');
    expect(line25).not.toContain('t25=');
    expect(line25.endsWith(', …')).toBe(true);
  });

  it('should link the job, its history and its tasks relative to the API without a base URL', () => {
    const { text } = toEmail(jobStatusEvent(JOB, FAILED_CHANGE));
    expect(text).toContain('The job: /api/jobs/job-42\n');
    expect(text).toContain('Its history: /api/jobs/job-42/history\n');
    expect(text).toContain('Its tasks and logs: /api/jobs/job-42/tasks\n');
  });

  it('should make the links absolute with a base URL', () => {
    const { text } = toEmail(jobStatusEvent(JOB, FAILED_CHANGE), 'https://jobs.example.com');
    expect(text).toContain('The job: https://jobs.example.com/api/jobs/job-42\n');
    expect(text).toContain('Its history: https://jobs.example.com/api/jobs/job-42/history\n');
    expect(text).toContain('Its tasks and logs: https://jobs.example.com/api/jobs/job-42/tasks\n');
  });

  it('should survive JSON unchanged, as deliveries store it', () => {
    const email = toEmail(jobStatusEvent(JOB, FAILED_CHANGE), 'https://jobs.example.com');
    expect(JSON.parse(JSON.stringify(email))).toEqual(email);
  });
});

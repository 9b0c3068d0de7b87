import { describe, expect, it } from 'vitest';
import {
  formatCursor,
  formatSse,
  nextEvents,
  parseCursor,
  progressEvent,
  STREAM_START,
} from '../../../shared/domain/jobStream.js';
import type { RecordedChange, RecordedTaskChange } from '../../../shared/domain/notifications.js';
import { ValidationError } from '../../../shared/errors.js';
import { TASK_STATUSES, type JobStatus } from '../../../shared/domain/lifecycle.js';

const job = { id: 'job1', name: 'render', owner: 'alice', taskCount: 3 };
const at = '2026-12-02T10:00:00.000Z';
const change = (sequence: number, status: JobStatus, taskSequence?: number): RecordedChange => ({
  sequence,
  status,
  message: status,
  at,
  ...(taskSequence !== undefined ? { taskSequence } : {}),
});
const task = (sequence: number, taskId = `t${sequence}`): RecordedTaskChange => ({
  sequence,
  taskId,
  status: 'SUCCEEDED',
  previousStatus: 'RUNNING',
  attempt: 1,
  exitCode: 0,
  at,
});
const history = [
  change(1, 'PENDING'),
  change(2, 'QUEUED'),
  change(3, 'RUNNING', 1),
  change(4, 'ARCHIVING', 3),
  change(5, 'FINISHED', 3),
];
const tasks = [task(1), task(2), task(3)];
const ids = (result: ReturnType<typeof nextEvents>) => result.events.map((e) => `${e.event} ${e.id}`);

describe('a job’s event stream', () => {
  it('should put each job change after the task changes logged before it', () => {
    const result = nextEvents(job, STREAM_START, history, tasks, true);
    expect(ids(result)).toEqual([
      'job.status.changed 1.0',
      'job.status.changed 2.0',
      'task.status.changed 2.1',
      'job.status.changed 3.1',
      'task.status.changed 3.2',
      'task.status.changed 3.3',
      'job.status.changed 4.3',
      'job.status.changed 5.3',
    ]);
    expect(result).toMatchObject({ cursor: { job: 5, tasks: 3 }, ended: true, needMoreTasks: false });
  });

  it('should give a reader that comes back exactly what followed its last event', () => {
    const whole = nextEvents(job, STREAM_START, history, tasks, true).events;
    for (const [i, event] of whole.entries()) {
      const rest = nextEvents(job, parseCursor(event.id, 'Last-Event-ID'), history, tasks, true);
      expect(rest.events.map((e) => e.id)).toEqual(whole.slice(i + 1).map((e) => e.id));
    }
  });

  it('should hold back a job change until the task changes before it have been read', () => {
    const firstPage = nextEvents(job, { job: 3, tasks: 1 }, history, [task(2)], false);
    expect(ids(firstPage)).toEqual(['task.status.changed 3.2']);
    expect(firstPage).toMatchObject({ needMoreTasks: true, ended: false, cursor: { job: 3, tasks: 2 } });
    const secondPage = nextEvents(job, firstPage.cursor, history, [task(3)], true);
    expect(ids(secondPage)[0]).toBe('task.status.changed 3.3');
    expect(secondPage.ended).toBe(true);
  });

  it('should send task changes logged after the last job change as they come, and end at none', () => {
    const live = nextEvents(job, STREAM_START, history.slice(0, 3), [...tasks, task(4)], true);
    expect(live.events.at(-1)?.id).toBe('3.4');
    expect(live).toMatchObject({ ended: false, cursor: { job: 3, tasks: 4 } });
    // A job change recorded late, naming an earlier task position, still comes once and next.
    const late = nextEvents(job, live.cursor, history, [...tasks, task(4)], true);
    expect(ids(late)).toEqual(['job.status.changed 4.4', 'job.status.changed 5.4']);
  });

  it('should carry the webhook’s CloudEvents as the data of each event', () => {
    const [first, , firstTask] = nextEvents(job, STREAM_START, history, tasks, true).events;
    expect(first!.data).toMatchObject({
      specversion: '1.0',
      id: 'job1:1',
      type: 'cloudjobs.job.status.changed',
      source: '/jobs/job1',
      data: { jobId: 'job1', status: 'PENDING', sequence: 1 },
    });
    expect(firstTask!.data).toMatchObject({
      id: 'job1:t1',
      type: 'cloudjobs.task.status.changed',
      subject: 'tasks/t1',
      data: { taskId: 't1', status: 'SUCCEEDED', exitCode: 0 },
    });
    const wire = formatSse(first!);
    expect(wire).toMatch(/^id: 1\.0\nevent: job\.status\.changed\ndata: \{.*\}\n\n$/);
    expect(JSON.parse(wire.split('\n')[2]!.slice('data: '.length))).toEqual(first!.data);
  });

  it('should tell progress at the cursor it was read at', () => {
    const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<
      (typeof TASK_STATUSES)[number],
      number
    >;
    counts.SUCCEEDED = 2;
    counts.RUNNING = 1;
    const event = progressEvent(job, '3.2', { status: 'RUNNING', taskCounts: counts, at });
    expect(event).toMatchObject({
      id: '3.2',
      event: 'job.progress',
      data: {
        id: 'job1:p3.2',
        type: 'cloudjobs.job.progress',
        data: { status: 'RUNNING', taskCount: 3, taskCounts: { SUCCEEDED: 2, RUNNING: 1 } },
      },
    });
  });

  it.each(['', undefined, null, '  '])('should read %j as the start', (value) => {
    expect(parseCursor(value, 'Last-Event-ID')).toEqual(STREAM_START);
  });

  it.each(['7', '7.', '.3', '-1.0', '1.2.3', 'a.b', '1e3.0', '../1.0', '9999999999.0'])(
    'should refuse %j naming the field',
    (value) => {
      const error = (() => {
        try {
          parseCursor(value, 'Last-Event-ID');
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues[0]!.path).toBe('Last-Event-ID');
    },
  );

  it('should read back every cursor it writes', () => {
    for (const cursor of [STREAM_START, { job: 12, tasks: 0 }, { job: 3, tasks: 123_456 }]) {
      expect(parseCursor(formatCursor(cursor), 'x')).toEqual(cursor);
    }
  });
});

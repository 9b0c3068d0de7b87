import { afterEach, describe, expect, it } from 'vitest';
import { JobFeeds } from '../../../shared/jobs/jobFeeds.js';
import { JobStreams } from '../../../shared/jobs/jobStreams.js';
import { NotFoundError } from '../../../shared/errors.js';
import type { Caller } from '../../../shared/identity.js';
import { ACTIVE_PATH, type JobStatus, type TaskStatus } from '../../../shared/domain/lifecycle.js';
import { STREAM_START, type StreamCursor } from '../../../shared/domain/jobStream.js';
import { MemoryJobStore } from '../../support/memoryStores.js';
import { waitFor } from '../../support/waitFor.js';

const alice: Caller = { owner: 'alice', admin: false, via: 'token' };
const TASKS = ['a', 'b', 'c'];

interface Received {
  id?: string;
  event?: string;
  data?: { data: Record<string, unknown> };
  comment?: string;
}

/** Reads a stream in the background, parsing what arrives as SSE. */
function reader(stream: AsyncIterable<string>) {
  const received: Received[] = [];
  let buffer = '';
  const done = (async () => {
    for await (const chunk of stream) {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: Received = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(': ')) event.comment = line.slice(2);
          else if (line.startsWith('id: ')) event.id = line.slice(4);
          else if (line.startsWith('event: ')) event.event = line.slice(7);
          else if (line.startsWith('data: ')) event.data = JSON.parse(line.slice(6)) as Received['data'];
        }
        if (event.event || event.comment) received.push(event);
      }
    }
  })();
  const events = () => received.filter((e) => e.event);
  return { received, events, done };
}

let feeds: JobFeeds | undefined;
afterEach(() => {
  // Every stream a test opened has ended, so nothing is left watched.
  expect(feeds?.watched ?? 0).toBe(0);
  feeds = undefined;
});

async function setup(
  options: { pollMs?: number; heartbeatMs?: number; maxStreamMs?: number; windowEntries?: number } = {},
) {
  const store = new MemoryJobStore();
  const at = () => new Date().toISOString();
  await store.createJob({
    id: 'job1',
    owner: 'alice',
    spec: { name: 'j', tasks: TASKS.map((id) => ({ id, command: 'true' })) },
    name: 'j',
    pool: 'default',
    tags: {},
    taskCount: TASKS.length,
    at: at(),
  });
  await store.putTasks(
    'job1',
    TASKS.map((id) => ({ id, status: 'PENDING' })),
  );
  feeds = new JobFeeds({
    store,
    pollMs: options.pollMs ?? 20,
    windowEntries: options.windowEntries ?? 20_000,
  });
  const streams = new JobStreams({
    job: async (caller, id) => {
      const job = await store.getJob(id);
      if (!job || job.owner !== caller.owner)
        throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
      return job;
    },
    store,
    feeds,
    heartbeatMs: options.heartbeatMs ?? 10_000,
    maxStreamMs: options.maxStreamMs ?? 10_000,
  });
  const status = (to: JobStatus) =>
    store.recordStatus('job1', {
      to,
      message: `now ${to}`,
      at: at(),
      ...(to === 'FAILED' ? { condition: 'TASK_FAILED' as const } : {}),
      ...(to === 'FINISHED' ? { condition: 'NORMAL_COMPLETION' as const } : {}),
    });
  const tasks = (ids: string[], to: TaskStatus) =>
    store.updateTasks(
      'job1',
      ids.map((id) => ({ id, status: to, attempt: 1, at: at() })),
      { log: true },
    );
  const open = (cursor: StreamCursor = STREAM_START) => streams.open(alice, 'job1', cursor);
  return { store, streams, status, tasks, open, feeds };
}

const ids = (events: Received[]) => events.map((e) => `${e.event} ${e.id}`);

describe('job event streams', () => {
  it('should replay what happened, then follow the job live to its final status', async () => {
    const { status, tasks, open } = await setup();
    await status('PROCESSING_INPUTS');
    const stream = reader(await open());
    await waitFor(() => (stream.events().length >= 2 ? true : undefined));
    for (const to of ACTIVE_PATH.slice(2, 7)) {
      await status(to);
    }
    await tasks(['a', 'b'], 'RUNNING');
    await waitFor(() =>
      stream
        .events()
        .some(
          (e) =>
            e.event === 'job.progress' &&
            e.data!.data.taskCounts &&
            (e.data!.data.taskCounts as Record<string, number>).RUNNING === 2,
        )
        ? true
        : undefined,
    );
    await tasks(['a', 'b', 'c'], 'SUCCEEDED');
    await status('ARCHIVING');
    await status('FINISHED');
    await stream.done;
    const changes = stream.events().filter((e) => e.event !== 'job.progress');
    expect(ids(changes)).toEqual([
      'job.status.changed 1.0',
      'job.status.changed 2.0',
      'job.status.changed 3.0',
      'job.status.changed 4.0',
      'job.status.changed 5.0',
      'job.status.changed 6.0',
      'job.status.changed 7.0',
      'task.status.changed 7.1',
      'task.status.changed 7.2',
      'task.status.changed 7.3',
      'task.status.changed 7.4',
      'task.status.changed 7.5',
      'job.status.changed 8.5',
      'job.status.changed 9.5',
    ]);
    expect(changes.at(-1)!.data!.data).toMatchObject({ status: 'FINISHED' });
  });

  it('should resume after any event with exactly what followed it', async () => {
    const { status, tasks, open } = await setup();
    for (const to of ACTIVE_PATH.slice(1, 6)) {
      await status(to);
    }
    await tasks(['a'], 'RUNNING');
    await status('RUNNING');
    await tasks(['a', 'b', 'c'], 'SUCCEEDED');
    await status('ARCHIVING');
    await status('FAILED');
    const whole = reader(await open());
    await whole.done;
    const changes = whole.events().filter((e) => e.event !== 'job.progress');
    for (const [i, event] of changes.entries()) {
      const [job, taskSeq] = event.id!.split('.').map(Number);
      const rest = reader(await open({ job: job!, tasks: taskSeq! }));
      await rest.done;
      expect(ids(rest.events().filter((e) => e.event !== 'job.progress'))).toEqual(ids(changes.slice(i + 1)));
    }
  });

  it('should read a reader far behind from the store, page by page, in order', async () => {
    const { status, open, store } = await setup({ windowEntries: 2 });
    for (const to of ACTIVE_PATH.slice(1, 7)) {
      await status(to);
    }
    // Attempts count up, so each round is a new change of every task: 3,000 log entries.
    for (let attempt = 1; attempt <= 500; attempt++) {
      await store.updateTasks(
        'job1',
        TASKS.flatMap((id) => [{ id, status: 'RUNNING' as const, attempt, at: new Date().toISOString() }]),
        { log: true },
      );
      await store.updateTasks(
        'job1',
        TASKS.map((id) => ({
          id,
          status: 'QUEUED' as const,
          attempt: attempt + 1,
          at: new Date().toISOString(),
        })),
        { log: true },
      );
    }
    await store.updateTasks(
      'job1',
      TASKS.map((id) => ({ id, status: 'SUCCEEDED' as const, attempt: 501, at: new Date().toISOString() })),
      { log: true },
    );
    await status('ARCHIVING');
    await status('FINISHED');
    const stream = reader(await open());
    await stream.done;
    const taskSequences = stream
      .events()
      .filter((e) => e.event === 'task.status.changed')
      .map((e) => Number(e.id!.split('.')[1]));
    expect(taskSequences).toEqual(Array.from({ length: 3003 }, (_, i) => i + 1));
    expect(stream.events().at(-1)).toMatchObject({ event: 'job.status.changed', id: '9.3003' });
  });

  it('should send a heartbeat while nothing happens, and end when its time is up', async () => {
    const { status, open } = await setup({ heartbeatMs: 30, maxStreamMs: 200, pollMs: 10 });
    await status('PROCESSING_INPUTS');
    const started = Date.now();
    const stream = reader(await open());
    await stream.done;
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(stream.received.filter((e) => e.comment === 'heartbeat').length).toBeGreaterThanOrEqual(3);
    expect(ids(stream.events().filter((e) => e.event !== 'job.progress'))).toEqual([
      'job.status.changed 1.0',
      'job.status.changed 2.0',
    ]);
  });

  it('should end the stream of a job that is deleted', async () => {
    const { status, open, store } = await setup();
    await status('PROCESSING_INPUTS');
    const stream = reader(await open());
    await waitFor(() => (stream.events().length >= 2 ? true : undefined));
    await store.deleteJob('job1');
    await stream.done;
  });

  it('should serve many streams of a job from one reader, woken by a nudge', async () => {
    const { status, open, store, feeds: hub } = await setup({ pollMs: 60_000 });
    let reads = 0;
    const history = store.history.bind(store);
    store.history = (id: string) => {
      reads++;
      return history(id);
    };
    const streams = await Promise.all(Array.from({ length: 200 }, async () => reader(await open())));
    await waitFor(() => (streams.every((s) => s.events().length >= 1) ? true : undefined));
    expect(hub.watched).toBe(1);
    const before = reads;
    await status('PROCESSING_INPUTS');
    hub.nudge('job1');
    await waitFor(() => (streams.every((s) => s.events().some((e) => e.id === '2.0')) ? true : undefined), {
      timeoutMs: 5000,
    });
    expect(reads - before).toBeLessThanOrEqual(2);
    await store.recordStatus('job1', {
      to: 'CANCELLED',
      condition: 'CANCELLED_BY_USER',
      message: 'stop',
      at: new Date().toISOString(),
    });
    hub.nudge('job1');
    await Promise.all(streams.map((s) => s.done));
    for (const s of streams)
      expect(ids(s.events().filter((e) => e.event !== 'job.progress'))).toEqual(
        ids(streams[0]!.events().filter((e) => e.event !== 'job.progress')),
      );
  });

  it('should send a change that came while its reader was slow to take the last one', async () => {
    const { status, open, feeds: hub } = await setup({ pollMs: 60_000, heartbeatMs: 60_000 });
    const stream = (await open())[Symbol.asyncIterator]();
    // Up to the progress event: the last chunk before the stream waits for news.
    for (let chunk = ''; !chunk.includes('event: job.progress');)
      chunk = (await stream.next()).value as string;
    // The stream is parked at that chunk, not yet waiting, when the change is recorded and read.
    const feed = hub.acquire('job1');
    const before = feed.version;
    await status('PROCESSING_INPUTS');
    hub.nudge('job1');
    await waitFor(() => (feed.version > before ? true : undefined));
    hub.release(feed);
    const started = Date.now();
    expect((await stream.next()).value).toContain('id: 2.0\nevent: job.status.changed');
    expect(Date.now() - started).toBeLessThan(1000);
    await stream.return?.(undefined);
  });

  it('should refuse another owner’s job before sending anything', async () => {
    const { streams } = await setup();
    await expect(
      streams.open({ owner: 'bob', admin: false } as Caller, 'job1', STREAM_START),
    ).rejects.toMatchObject({
      code: 'JOB_NOT_FOUND',
    });
  });
});

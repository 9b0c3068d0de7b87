import { describe, expect, inject, it } from 'vitest';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';
import { jobClient } from '../support/jobClient.js';
import { followJob, readEventStream, type SseEvent } from '../support/eventStream.js';
import { waitFor } from '../support/waitFor.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef';

/** The rules a stream's order keeps, whatever the timing of the changes it tells. */
function expectOrdered(
  events: SseEvent[],
  history: Array<{ sequence: number; taskSequence?: number }>,
): void {
  const bounds = new Map(history.map((entry) => [entry.sequence, entry.taskSequence ?? 0]));
  const jobs = events
    .filter((e) => e.event === 'job.status.changed')
    .map((e) => Number(e.data.data.sequence));
  const tasks = events
    .filter((e) => e.event === 'task.status.changed')
    .map((e) => Number(e.data.data.sequence));
  expect(jobs).toEqual([...jobs].sort((a, b) => a - b));
  expect(tasks).toEqual(tasks.map((_, i) => i + 1));
  for (const [i, event] of events.entries()) {
    if (event.event !== 'job.status.changed') continue;
    // Every task change logged before this job change was recorded has been sent before it.
    const bound = bounds.get(Number(event.data.data.sequence))!;
    const before = events.slice(0, i).filter((e) => e.event === 'task.status.changed').length;
    expect(before, `job change ${String(event.data.data.sequence)}`).toBeGreaterThanOrEqual(bound);
  }
}

/** The changes of a stream (progress is a summary, told again after a reconnect). */
const changes = (events: SseEvent[]) => events.filter((e) => e.event !== 'job.progress');

describe('a job’s event stream on the embedded runtime', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: {
      CLOUDJOBS_API_TOKENS: `alice=${ALICE},bob=${BOB}`,
      CLOUDJOBS_TABLE_PREFIX: uniqueName('ev'),
      CLOUDJOBS_STREAM_HEARTBEAT_SECONDS: '1',
    },
  });
  const api = () => jobClient(runtime, ALICE);
  const open = (id: string, token: string, lastEventId?: string) =>
    runtime.fetch(`/api/jobs/${id}/events`, {
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'text/event-stream',
        ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
      },
    });

  it('should replay, then stream each change live and in order until the job ends', async () => {
    const id = await api().submit({
      name: 'live',
      tasks: [
        { id: 'first', command: 'sleep 1' },
        // Three quiet seconds while it runs: nothing changes, so the stream sends heartbeats.
        { id: 'second', command: 'sleep 3', dependsOn: ['first'] },
        { id: 'third', command: 'exit 3', dependsOn: ['second'] },
      ],
    });
    const response = await open(id, ALICE);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const arrivals: Array<{ event: SseEvent; at: number }> = [];
    const stream = readEventStream(response, (event) => arrivals.push({ event, at: Date.now() }));
    expect(await stream.done).toBe('ended');
    expect(stream.retry).toBe(2000);

    const statuses = changes(stream.events)
      .filter((e) => e.event === 'job.status.changed')
      .map((e) => e.data.data.status);
    expect(statuses[0]).toBe('PENDING');
    expect(statuses.at(-1)).toBe('FAILED');
    const history = await api().history(id);
    expect(statuses).toEqual(history.map((entry) => entry.status));

    // Every task change, once, in the task log's order, each before the job change that followed it.
    const taskEvents = stream.events.filter((e) => e.event === 'task.status.changed');
    const taskSequences = taskEvents.map((e) => Number(e.id.split('.')[1]));
    expect(taskSequences).toEqual(taskSequences.map((_, i) => i + 1));
    expect(taskEvents.map((e) => `${e.data.data.taskId} ${e.data.data.status}`)).toEqual(
      expect.arrayContaining(['first SUCCEEDED', 'second SUCCEEDED', 'third FAILED']),
    );
    const ids = changes(stream.events).map((e) => e.id.split('.').map(Number) as [number, number]);
    for (let i = 1; i < ids.length; i++) {
      expect(ids[i]![0] > ids[i - 1]![0] || ids[i]![1] > ids[i - 1]![1]).toBe(true);
    }
    const failed = changes(stream.events).at(-1)!;
    expect(failed.data).toMatchObject({
      type: 'cloudjobs.job.status.changed',
      id: `${id}:${history.at(-1)!.sequence}`,
      data: { status: 'FAILED', condition: 'TASK_FAILED', exitCodes: { third: 3 } },
    });
    // Live, not replayed at the end: the first task ended seconds before the job did.
    const firstDone = arrivals.find((a) => a.event.data.data.taskId === 'first')!;
    expect(arrivals.at(-1)!.at - firstDone.at).toBeGreaterThan(1000);
    const progress = stream.events.filter((e) => e.event === 'job.progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.data.data).toMatchObject({ taskCount: 3 });
    // Nothing happened for seconds at a time, so the stream kept itself alive.
    expect(stream.comments).toContain('heartbeat');
  });

  it('should resume after a disconnect with Last-Event-ID, missing nothing and repeating nothing', async () => {
    const id = await api().submit({
      name: 'resume',
      sweep: { command: 'sleep 0.3', range: [1, 12] },
    });
    // Cut the connection after every third change, as a flaky network would.
    const received: SseEvent[] = [];
    let connections = 0;
    for (;;) {
      const controller = new AbortController();
      const response = await runtime.fetch(`/api/jobs/${id}/events`, {
        headers: {
          authorization: `Bearer ${ALICE}`,
          ...(received.length ? { 'last-event-id': received.at(-1)!.id } : {}),
        },
        signal: controller.signal,
      });
      connections++;
      let taken = 0;
      const ended = await readEventStream(
        response,
        (event) => {
          if (event.event === 'job.progress') return;
          received.push(event);
          if (++taken === 3) controller.abort();
        },
        controller.signal,
      ).done;
      if (ended === 'ended') break;
    }
    expect(connections).toBeGreaterThan(2);
    const replay = readEventStream(await open(id, ALICE));
    await replay.done;
    // Every change once: the same changes as a replay of the whole stream afterwards.
    const ids = received.map((e) => e.data.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(
      changes(replay.events)
        .map((e) => e.data.id)
        .sort(),
    );
    // In order: each log in its own order, and each job change after the task changes logged
    // before it. (A job change recorded while task changes were being logged may come before or
    // after those in a live stream and in a replay; both keep these rules.)
    const history = await api().history(id);
    expectOrdered(received, history);
    expectOrdered(changes(replay.events), history);
  });

  it('should stream every job of the caller, and no one else’s, resuming with Last-Event-ID', async () => {
    const controller = new AbortController();
    const opened = await runtime.fetch('/api/events', {
      headers: { authorization: `Bearer ${ALICE}` },
      signal: controller.signal,
    });
    expect(opened.status).toBe(200);
    const seen: SseEvent[] = [];
    const live = readEventStream(opened, (event) => seen.push(event), controller.signal);
    const mine = [
      await api().submit({ name: 'all-1', tasks: [{ id: 'a', command: 'true' }] }),
      await api().submit({ name: 'all-2', tasks: [{ id: 'a', command: 'exit 2' }] }),
    ];
    const theirs = await jobClient(runtime, BOB).submit({
      name: 'bob',
      tasks: [{ id: 'a', command: 'true' }],
    });
    const ended = () =>
      mine.every((id) =>
        seen.some(
          (e) => e.data.data.jobId === id && ['FINISHED', 'FAILED'].includes(String(e.data.data.status)),
        ),
      );
    await waitFor(() => (ended() ? true : undefined), {
      timeoutMs: 60_000,
      what: 'both jobs to end on the stream',
    });
    controller.abort();
    await live.done;
    expect(seen.some((e) => e.data.data.jobId === theirs)).toBe(false);
    // Status changes, that is: a job slow enough to be caught mid-way also gets job.progress.
    const told = changes(seen);
    for (const id of mine) {
      const statuses = told.filter((e) => e.data.data.jobId === id).map((e) => e.data.data.status);
      expect(statuses).toEqual((await api().history(id)).map((entry) => entry.status));
    }
    const positions = seen.map((e) => Number(e.id));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));

    // From the middle: exactly what followed.
    const middle = told[Math.floor(told.length / 2)]!;
    const rest: SseEvent[] = [];
    const resumed = new AbortController();
    const again = await runtime.fetch('/api/events?name=all-1', {
      headers: { authorization: `Bearer ${ALICE}`, 'last-event-id': middle.id },
      signal: resumed.signal,
    });
    const reading = readEventStream(again, (event) => rest.push(event), resumed.signal);
    const expected = told.filter((e) => Number(e.id) > Number(middle.id) && e.data.data.name === 'all-1');
    await waitFor(() => (changes(rest).length >= expected.length ? true : undefined), {
      what: 'the rest of the stream',
    });
    resumed.abort();
    await reading.done;
    expect(changes(rest).map((e) => e.id)).toEqual(expected.map((e) => e.id));
  });

  it('should answer another user’s job as missing, and a bad Last-Event-ID naming the header', async () => {
    const id = await api().submit({ name: 'private', tasks: [{ id: 'a', command: 'true' }] });
    const theirs = await open(id, BOB);
    expect(theirs.status).toBe(404);
    expect(await theirs.json()).toMatchObject({ code: 'JOB_NOT_FOUND' });
    const bad = await open(id, ALICE, 'yesterday');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ errors: [{ path: 'Last-Event-ID' }] });
    const anonymous = await runtime.fetch(`/api/jobs/${id}/events`);
    expect(anonymous.status).toBe(401);
    await followJob((last) => open(id, ALICE, last));
  });
});

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../support/freePort.js';
import { ENDED, jobClient } from '../support/jobClient.js';
import { ROOT, RuntimeProcess, uniqueName } from '../support/runtimeProcess.js';
import { StopWaiting, waitFor } from '../support/waitFor.js';
import { verifies, WebhookReceiver, type Received } from '../support/webhookReceiver.js';
import { followJob } from '../support/eventStream.js';
import {
  activityRuns,
  chaosSeed,
  completedRuns,
  COUNTED_COMMAND,
  killAtRandomMoments,
} from '../support/chaos.js';

const COUNT = 2000;
const KILLS = 5;
const SEED = chaosSeed();

describe(`the runtime killed with SIGKILL ${KILLS} times during a job (seed ${SEED})`, () => {
  let runtime: RuntimeProcess;
  // A subscriber outside the runtime, as a user's would be: it stays up through the crash.
  const receiver = new WebhookReceiver();

  beforeAll(async () => {
    // The same ports after the restart, as Azure's endpoints stay put: the job's plan holds URLs.
    const [batchPort, blobPort] = [await freePort(), await freePort()];
    runtime = new RuntimeProcess({
      app: ROOT,
      storage: inject('azurite'),
      // Debug, for the log line of every activity execution: they are counted below.
      env: { CLOUDJOBS_TABLE_PREFIX: uniqueName('k'), CLOUDJOBS_LOG_LEVEL: 'debug' },
      args: ['--batch-port', String(batchPort), '--blob-port', String(blobPort), '--batch-slots', '12'],
    });
    await runtime.start();
    await receiver.start();
  });
  afterAll(async () => {
    await runtime.dispose();
    await receiver.stop();
  });

  it('should finish the job through every kill, with no task lost or run twice, nor any event', async () => {
    const api = jobClient(runtime);
    const subscribed = await api.json<{ secret: string }>('POST', '/subscriptions', {
      url: receiver.url('/crash'),
      events: ['job.*', 'task.*'],
    });
    expect(subscribed.status, subscribed.text).toBe(201);
    const id = await api.submit({ name: 'chaos', sweep: { command: COUNTED_COMMAND, range: [1, COUNT] } });
    // A reader of the job's event stream through the crashes, reconnecting with its last event id.
    const followed = followJob(
      (lastEventId) =>
        runtime.fetch(`/api/jobs/${id}/events`, {
          headers: lastEventId ? { 'last-event-id': lastEventId } : {},
        }),
      { timeoutMs: 300_000 },
    );
    await killAtRandomMoments(runtime, {
      tasks: COUNT,
      kills: KILLS,
      seed: SEED,
      succeeded: async () => (await api.job(id)).taskCounts.SUCCEEDED,
    });
    const done = await api.until(id, ENDED, 240_000);
    expect(done.status).toBe('FINISHED');
    expect(done.taskCounts.SUCCEEDED).toBe(COUNT);
    expect(Object.values(done.taskCounts).reduce((a, b) => a + b)).toBe(COUNT);
    const tasks = await api.tasks(id);
    expect(Object.keys(tasks)).toHaveLength(COUNT);
    expect(Object.values(tasks).filter((task) => task.status !== 'SUCCEEDED')).toEqual([]);
    const statuses = (await api.history(id)).map((entry) => entry.status);
    expect(statuses).toEqual([...new Set(statuses)]);
    expect(statuses.at(-1)).toBe('FINISHED');

    // The stream's reader got every change once and in order, across the restart.
    const stream = await followed;
    expect(stream.connections).toBeGreaterThan(1);
    const streamed = stream.events.filter((e) => e.event !== 'job.progress');
    expect(streamed.filter((e) => e.event === 'job.status.changed').map((e) => e.data.data.status)).toEqual(
      statuses,
    );
    const streamedTasks = streamed.filter((e) => e.event === 'task.status.changed').map((e) => e.data.id);
    expect(streamedTasks).toEqual(
      Array.from({ length: (await api.history(id)).at(-1)!.taskSequence! }, (_, i) => `${id}:t${i + 1}`),
    );

    // Every event reached the subscriber: a delivery cut short by the crash may come again (same
    // webhook-id, same body), but none is missing and none overtook an earlier one.
    const logged = (await api.history(id)).at(-1)!.taskSequence!;
    const firstArrivals = () => {
      const seen = new Map<string, Received>();
      for (const request of receiver.acceptedAt('/crash')) {
        const first = seen.get(request.id);
        if (!first) seen.set(request.id, request);
        else if (request.body !== first.body) throw new StopWaiting(`${request.id} came with another body`);
      }
      return [...seen.values()];
    };
    const firsts = await waitFor(
      () => {
        const arrived = firstArrivals();
        const jobEvents = arrived.filter((r) => r.contentType === 'application/cloudevents+json');
        return jobEvents.length >= statuses.length ? arrived : undefined;
      },
      { timeoutMs: 120_000, what: 'every job event at the subscriber' },
    );
    for (const request of firsts) expect(verifies(subscribed.body.secret, request)).toBe(true);
    type TaskEvent = { data: { taskId: string; status: string; sequence: number } };
    type Item = { kind: 'job'; status: string } | { kind: 'tasks'; events: TaskEvent[] };
    const items = firsts.map((r): Item =>
      r.contentType === 'application/cloudevents+json'
        ? { kind: 'job', status: (JSON.parse(r.body) as TaskEvent).data.status }
        : { kind: 'tasks', events: JSON.parse(r.body) as TaskEvent[] },
    );
    expect(items.flatMap((i) => (i.kind === 'job' ? [i.status] : []))).toEqual(statuses);
    const taskEvents = items.flatMap((i) => (i.kind === 'tasks' ? i.events.map((e) => e.data) : []));
    expect(taskEvents.map((e) => e.sequence)).toEqual(Array.from({ length: logged }, (_, i) => i + 1));
    const succeeded = new Set(taskEvents.filter((e) => e.status === 'SUCCEEDED').map((e) => e.taskId));
    expect(succeeded.size).toBe(COUNT);
    // The job was archived only once every task event had gone out.
    const archiving = items.findIndex((i) => i.kind === 'job' && i.status === 'ARCHIVING');
    expect(items.slice(archiving).every((i) => i.kind === 'job')).toBe(true);

    // Every task's command ran to its end once: a task the kill cut short runs again, but none
    // that had finished does.
    const runs = await completedRuns(runtime);
    expect(runs.twice).toEqual([]);
    expect(runs.distinct).toBe(COUNT);

    // An activity runs again only if a kill came while it ran or before its result was stored:
    // at most the activities in flight at each kill (16 at a time, host.json).
    const activities = activityRuns(runtime.output);
    expect(activities.executions).toBeGreaterThan(0);
    expect(activities.repeated).toBeLessThanOrEqual(KILLS * 16);
  });
});

import {
  activityRuns,
  chaosSeed,
  completedRuns,
  COUNTED_COMMAND,
  killAtRandomMoments,
} from '../support/chaos.js';
import { freePort } from '../support/freePort.js';
import { ROOT, RuntimeProcess } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';
import { WebhookReceiver } from '../support/webhookReceiver.js';
import type { Benchmark } from './benchmarks.js';

interface JobState {
  id: string;
  status: string;
  taskCounts: Record<string, number>;
}

const tasks = Number(process.env.CLOUDJOBS_BENCH_CHAOS_TASKS ?? 5000);
const kills = Number(process.env.CLOUDJOBS_BENCH_CHAOS_KILLS ?? 10);

/**
 * The e2e chaos test (test/e2e/chaos.test.ts) for longer: a job with a webhook subscriber to its
 * job and task events, the runtime killed with SIGKILL at random moments and restarted each time.
 */
export const chaosBenchmark: Benchmark = {
  id: 'chaos',
  description: `one ${tasks}-task job with a webhook subscriber, the runtime SIGKILLed ${kills} times at random moments`,
  async run({ freshStorage }) {
    const seed = chaosSeed();
    process.stderr.write(`chaos: seed ${seed} (CLOUDJOBS_CHAOS_SEED repeats it)\n`);
    const ports = ['--batch-port', String(await freePort()), '--blob-port', String(await freePort())];
    const runtime = new RuntimeProcess({
      app: ROOT,
      storage: await freshStorage(),
      env: { CLOUDJOBS_LOG_LEVEL: 'debug' },
      args: ['--batch-slots', '16', ...ports],
    });
    const receiver = new WebhookReceiver();
    await receiver.start();
    await runtime.start();
    try {
      const post = (path: string, body: unknown) =>
        runtime.json<{ id: string }>(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      await post('/api/subscriptions', { url: receiver.url('/chaos'), events: ['job.*', 'task.*'] });
      const start = performance.now();
      const { id } = await post('/api/jobs', {
        name: 'chaos',
        sweep: { command: COUNTED_COMMAND, range: [1, tasks] },
      });
      const job = () => runtime.json<JobState>(`/api/jobs/${id}`);
      const { restartSeconds } = await killAtRandomMoments(runtime, {
        tasks,
        kills,
        seed,
        succeeded: async () => (await job()).taskCounts.SUCCEEDED ?? 0,
      });
      const done = await waitFor(
        async () => {
          const state = await job();
          return ['FINISHED', 'FAILED', 'CANCELLED'].includes(state.status) ? state : undefined;
        },
        { timeoutMs: 1_800_000, intervalMs: 200, what: `job ${id} to end` },
      );
      const seconds = (performance.now() - start) / 1000;
      const { items } = await runtime.json<{ items: Array<{ status: string; taskSequence?: number }> }>(
        `/api/jobs/${id}/history`,
      );
      const expected = { job: items.length, task: items.at(-1)?.taskSequence ?? 0 };
      // First arrivals by webhook id (a delivery cut short by a kill may come again).
      const firstArrivals = () => {
        const seen = new Set<string>();
        return receiver
          .acceptedAt('/chaos')
          .filter((request) => !seen.has(request.id) && seen.add(request.id));
      };
      const isJobEvent = (request: { contentType: string }) =>
        request.contentType === 'application/cloudevents+json';
      // Deliveries cut short by the last kill get their retry before anything is counted missing.
      await waitFor(() => (firstArrivals().filter(isJobEvent).length >= expected.job ? true : undefined), {
        timeoutMs: 300_000,
        what: 'every job event at the subscriber',
      }).catch(() => undefined);
      const firsts = firstArrivals();
      const sequences = firsts
        .filter((request) => !isJobEvent(request))
        .flatMap((request) =>
          (JSON.parse(request.body) as Array<{ data: { sequence: number } }>).map((e) => e.data.sequence),
        );
      const outOfOrder = sequences.filter((sequence, i) => i > 0 && sequence < sequences[i - 1]!).length;
      const runs = await completedRuns(runtime);
      const activities = activityRuns(runtime.output);
      return {
        tasks,
        kills,
        seed,
        finished: done.status === 'FINISHED' ? 1 : 0,
        seconds,
        restartSecondsMax: Math.max(...restartSeconds),
        lost: tasks - (done.taskCounts.SUCCEEDED ?? 0),
        completedTwice: runs.twice.length,
        activityExecutions: activities.executions,
        activityRepeats: activities.repeated,
        jobEventsMissing: expected.job - firsts.filter(isJobEvent).length,
        taskEventsMissing: expected.task - new Set(sequences).size,
        taskEventsOutOfOrder: outOfOrder,
      };
    } finally {
      await runtime.dispose();
      await receiver.stop();
    }
  },
};

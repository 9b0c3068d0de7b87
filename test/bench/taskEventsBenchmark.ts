import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../../shared/domain/webhooks.js';
import { ROOT, RuntimeProcess } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';
import type { Benchmark } from './benchmarks.js';

// The real workload: 10,000 tasks with dependencies (100 chains of 100). Smaller for a quick look.
const TASKS = Number(process.env.CLOUDJOBS_BENCH_TASK_EVENTS_TASKS ?? 10_000);
const CHAINS = Math.min(100, TASKS);
const SLOTS = 8;
const ENDED = new Set(['FINISHED', 'FAILED', 'CANCELLED']);

interface TaskEvent {
  id: string;
  time: string;
  data: { taskId: string; sequence: number };
}

interface Arrival {
  kind: 'job' | 'tasks';
  /** A job event's status, or a batch's task events. */
  status?: string;
  events: TaskEvent[];
  at: number;
  verified: boolean;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;

/** A chain-shaped job: task i waits for task i - CHAINS. */
const spec = (name: string) => ({
  name,
  tasks: Array.from({ length: TASKS }, (_, i) => ({
    id: `t${i}`,
    command: 'true',
    ...(i >= CHAINS ? { dependsOn: [`t${i - CHAINS}`] } : {}),
  })),
});

async function runJob(runtime: RuntimeProcess, name: string): Promise<{ id: string; seconds: number }> {
  const start = performance.now();
  const job = await runtime.json<{ id: string }>('/api/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(spec(name)),
  });
  const ended = await waitFor(
    async () => {
      const view = await runtime.json<{ status: string }>(`/api/jobs/${job.id}`);
      return ENDED.has(view.status) ? view : undefined;
    },
    { timeoutMs: 3_600_000, intervalMs: 250, what: `job ${job.id}` },
  );
  if (ended.status !== 'FINISHED') throw new Error(`job ${job.id} ended ${ended.status}`);
  return { id: job.id, seconds: (performance.now() - start) / 1000 };
}

/**
 * `task-events`: a job of 10,000 tasks with dependencies, run once with nobody subscribed and once
 * with a subscriber of every job and task event (a local receiver verifying each signature).
 * Reports the makespan of each (the cost of logging and sending task events), how long after the
 * job finished its last event arrived, the latency of task events (logged to received), and
 * whether every task change arrived once and in order (`lost`, `doubled`, `outOfOrder`; the job's
 * FINISHED must come after every task event).
 */
export const taskEventsBenchmark: Benchmark = {
  id: 'task-events',
  description: `a ${TASKS.toLocaleString('en')}-task job with dependencies, without and with a task event subscriber`,
  async run({ freshStorage }) {
    let secret = '';
    const arrivals: Arrival[] = [];
    let malformed = 0;
    const receiver = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const at = Date.now();
        const body = Buffer.concat(chunks).toString('utf8');
        const verified = verifyWebhook(
          secret,
          {
            id: String(request.headers['webhook-id']),
            timestamp: Number(request.headers['webhook-timestamp']),
            body,
          },
          String(request.headers['webhook-signature']),
          Math.floor(at / 1000),
        );
        let parsed: TaskEvent[] | { data: { status: string } };
        try {
          parsed = JSON.parse(body) as TaskEvent[] | { data: { status: string } };
        } catch {
          // Counted, and told, rather than ending the run: a body that is not JSON is a finding.
          malformed++;
          process.stderr.write(
            `task-events: ${request.method ?? ''} ${request.url ?? ''} with a body that is not JSON (${body.length} characters, webhook-id ${String(request.headers['webhook-id'])}, content-length ${String(request.headers['content-length'])}): ${body.slice(0, 200)}\n`,
          );
          response.writeHead(400).end();
          return;
        }
        arrivals.push(
          Array.isArray(parsed)
            ? { kind: 'tasks', events: parsed, at, verified }
            : { kind: 'job', status: parsed.data.status, events: [], at, verified },
        );
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    // Each run on its own runtime and empty storage: Azurite slows as it fills.
    const fresh = async () => {
      const started = new RuntimeProcess({
        app: ROOT,
        storage: await freshStorage(),
        env: { CLOUDJOBS_LOG_LEVEL: 'warning' },
        args: ['--batch-slots', String(SLOTS)],
      });
      await started.start();
      return started;
    };
    let runtime = await fresh();
    let quiet: { id: string; seconds: number };
    try {
      quiet = await runJob(runtime, 'unobserved');
    } finally {
      await runtime.dispose();
    }
    runtime = await fresh();
    try {
      const subscription = await runtime.json<{ secret: string }>('/api/subscriptions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
          events: ['job.*', 'task.*'],
        }),
      });
      secret = subscription.secret;
      const observed = await runJob(runtime, 'observed');
      const finishedAt = Date.now();
      const history = await runtime.json<{ items: Array<{ status: string; taskSequence?: number }> }>(
        `/api/jobs/${observed.id}/history`,
      );
      const logged = history.items.at(-1)?.taskSequence ?? 0;
      const finished = await waitFor(
        () => (arrivals.some((a) => a.kind === 'job' && a.status === 'FINISHED') ? true : undefined),
        { timeoutMs: 600_000, intervalMs: 100, what: 'the FINISHED event' },
      ).catch(() => false);
      const lastArrival = arrivals.at(-1)?.at ?? finishedAt;
      const events = arrivals.flatMap((a) => a.events);
      const sequences = events.map((e) => e.data.sequence);
      const distinct = new Set(sequences);
      const latencies = [...new Map(events.map((e) => [e.id, e])).values()]
        .map((e) => arrivals.find((a) => a.events.includes(e))!.at - Date.parse(e.time))
        .sort((a, b) => a - b);
      const finishedIndex = arrivals.findIndex((a) => a.kind === 'job' && a.status === 'FINISHED');
      return {
        tasks: TASKS,
        unobservedSeconds: quiet.seconds,
        observedSeconds: observed.seconds,
        observedOverUnobserved: observed.seconds / quiet.seconds,
        taskEvents: distinct.size,
        requests: arrivals.filter((a) => a.kind === 'tasks').length,
        lastEventAfterFinishedSeconds: Math.max(0, lastArrival - finishedAt) / 1000,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        lost: Math.max(0, logged - distinct.size),
        doubled: sequences.length - distinct.size,
        outOfOrder: sequences.filter((s, i) => i > 0 && s <= sequences[i - 1]!).length,
        taskEventsAfterFinished: finished
          ? arrivals.slice(finishedIndex + 1).filter((a) => a.kind === 'tasks').length
          : -1,
        unverified: arrivals.filter((a) => !a.verified).length,
        malformed,
      };
    } finally {
      await runtime.dispose();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  },
};

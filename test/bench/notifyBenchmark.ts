import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../../shared/domain/webhooks.js';
import { ROOT, RuntimeProcess } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';
import type { Benchmark } from './benchmarks.js';

const EVENTS = 1_000;
// Jobs in flight at once: a steady stream of changes, as many users' jobs make, not one burst.
const CONCURRENT_JOBS = 8;
// A one-task job that finishes records nine changes, PENDING to FINISHED.
const JOBS = Math.ceil(EVENTS / 9);

interface Arrival {
  id: string;
  latencyMs: number;
  verified: boolean;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

/**
 * `notify`: from a job's state change being recorded (the CloudEvent's `time`, the moment the
 * change was written) to its signed webhook arriving at a local receiver and verifying, over at
 * least 1,000 events from one-task jobs run 8 at a time. `lost` counts changes in the jobs'
 * histories that never arrived; `doubled`, arrivals of an event already received.
 */
export const notifyBenchmark: Benchmark = {
  id: 'notify',
  description: 'state change recorded → signed webhook verified at a local receiver, over 1,000 events',
  async run({ freshStorage }) {
    let secret = '';
    const arrivals: Arrival[] = [];
    const receiver = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const arrived = Date.now();
        const body = Buffer.concat(chunks).toString('utf8');
        const id = String(request.headers['webhook-id']);
        const timestamp = Number(request.headers['webhook-timestamp']);
        const verified = verifyWebhook(
          secret,
          { id, timestamp, body },
          String(request.headers['webhook-signature']),
          Math.floor(arrived / 1000),
        );
        const event = JSON.parse(body) as { time: string };
        arrivals.push({ id, latencyMs: arrived - Date.parse(event.time), verified });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const runtime = new RuntimeProcess({
      app: ROOT,
      storage: await freshStorage(),
      env: { CLOUDJOBS_LOG_LEVEL: 'warning' },
      args: ['--batch-slots', '8'],
    });
    await runtime.start();
    try {
      const subscription = await runtime.json<{ secret: string }>('/api/subscriptions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` }),
      });
      secret = subscription.secret;
      const jobs: string[] = [];
      let changes = 0;
      const runOne = async (n: number) => {
        const job = await runtime.json<{ id: string }>('/api/jobs', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: `notify-${n}`, tasks: [{ id: 'a', command: 'true' }] }),
        });
        jobs.push(job.id);
        await waitFor(
          async () => {
            const view = await runtime.json<{ status: string; sequence?: number }>(`/api/jobs/${job.id}`);
            return ['FINISHED', 'FAILED', 'CANCELLED'].includes(view.status) ? view : undefined;
          },
          { timeoutMs: 300_000, intervalMs: 100, what: `job ${job.id}` },
        );
        const history = await runtime.json<{ items: unknown[] }>(`/api/jobs/${job.id}/history`);
        changes += history.items.length;
      };
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENT_JOBS }, async () => {
          while (next < JOBS) await runOne(next++);
        }),
      );
      // Every change recorded must arrive; wait for the stragglers, then judge what is missing.
      await waitFor(() => (new Set(arrivals.map((a) => a.id)).size >= changes ? true : undefined), {
        timeoutMs: 120_000,
        intervalMs: 100,
        what: `${changes} events at the receiver`,
      }).catch(() => undefined);
      const distinct = new Map<string, Arrival>();
      for (const arrival of arrivals) if (!distinct.has(arrival.id)) distinct.set(arrival.id, arrival);
      const latencies = [...distinct.values()].map((a) => a.latencyMs).sort((a, b) => a - b);
      return {
        events: distinct.size,
        jobs: jobs.length,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        maxMs: latencies.at(-1) ?? 0,
        lost: Math.max(0, changes - distinct.size),
        doubled: arrivals.length - distinct.size,
        unverified: arrivals.filter((a) => !a.verified).length,
      };
    } finally {
      await runtime.dispose();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  },
};

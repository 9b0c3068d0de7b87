import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TableClient } from '@azure/data-tables';
import { ROOT, RuntimeProcess } from '../support/runtimeProcess.js';
import type { Benchmark } from './benchmarks.js';

const CLIENTS = 32;
const DURATION_MS = 20_000;

/** A 10-task job, a little different each time, as clients send them. */
const job = (n: number) =>
  JSON.stringify({
    name: `submit-${n}`,
    tasks: Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, command: `echo ${n}-${i}` })),
  });

/** `CLIENTS` loops posting jobs to `url` for `DURATION_MS`; answers jobs per second and latencies. */
async function load(
  url: string,
): Promise<{ perSecond: number; p50Ms: number; p99Ms: number; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  const refusals = new Map<string, number>();
  let n = 0;
  const start = performance.now();
  const deadline = start + DURATION_MS;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: job(n++),
        }).catch(() => undefined);
        await response?.arrayBuffer();
        if (response?.status === 202) {
          latencies.push(performance.now() - sent);
        } else {
          failed++;
          const why = response ? String(response.status) : 'no answer';
          refusals.set(why, (refusals.get(why) ?? 0) + 1);
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  // What the answers that were not 202 were, for whoever reads the run.
  if (refusals.size > 0)
    process.stderr.write(`${url}: not 202: ${JSON.stringify(Object.fromEntries(refusals))}\n`);
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { perSecond: latencies.length / elapsed, p50Ms: at(0.5), p99Ms: at(0.99), failed };
}

/**
 * The floor: a bare Node HTTP server doing the one write a submission cannot avoid, the job's row
 * in Azurite's Table storage, and answering 202. Whatever cloudjobs does beyond that (validation,
 * expansion, the spec blob, starting the orchestration) is what the ratio measures.
 */
async function floorServer(storage: string): Promise<{ url: string; close: () => Promise<void> }> {
  const table = TableClient.fromConnectionString(
    storage,
    `floor${randomUUID().replace(/-/g, '').slice(0, 12)}`,
    {
      allowInsecureConnection: true,
    },
  );
  await table.createTable();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const id = randomUUID();
      table.createEntity({ partitionKey: id, rowKey: 'job', spec: body }).then(
        () => response.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id })),
        () => response.writeHead(500).end(),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/jobs`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * `submit`: 32 clients posting 10-task jobs for 20 s against the embedded runtime (the jobs run
 * meanwhile, as they would), against the floor server under the same load, each on a fresh Azurite.
 * `oursOverFloor` is the floor's rate over ours: how many times the one write's cost a submission
 * takes (1 would be no overhead).
 */
export const submitBenchmark: Benchmark = {
  id: 'submit',
  description:
    'POST /api/jobs (10-task jobs) from 32 clients for 20 s, against a bare server doing the one table write',
  async run({ freshStorage }) {
    const floor = await floorServer(await freshStorage());
    let floorFigures;
    try {
      floorFigures = await load(floor.url);
    } finally {
      await floor.close();
    }
    const runtime = new RuntimeProcess({
      app: ROOT,
      storage: await freshStorage(),
      env: { CLOUDJOBS_LOG_LEVEL: 'warning' },
      args: ['--batch-slots', '16'],
    });
    await runtime.start();
    try {
      const ours = await load(`${runtime.url}/api/jobs`);
      return {
        jobsPerSecond: ours.perSecond,
        floorJobsPerSecond: floorFigures.perSecond,
        p50Ms: ours.p50Ms,
        p99Ms: ours.p99Ms,
        floorP99Ms: floorFigures.p99Ms,
        failed: ours.failed,
        oursOverFloor: floorFigures.perSecond / ours.perSecond,
      };
    } finally {
      await runtime.dispose();
    }
  },
};

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { BlobServiceClient } from '@azure/storage-blob';
import { TableClient } from '@azure/data-tables';
import { ROOT, RuntimeProcess } from '../support/runtimeProcess.js';
import { waitForCompletion } from '../support/durable.js';
import { waitFor } from '../support/waitFor.js';
import { AzureBatch } from '../../shared/adapters/azureBatch.js';
import type { ComputeTaskSpec } from '../../shared/compute/compute.js';
import { jobBenchmarks } from './jobBenchmarks.js';
import { notifyBenchmark } from './notifyBenchmark.js';
import { transferBenchmark } from './transferBenchmark.js';
import { submitBenchmark } from './submitBenchmark.js';
import { taskEventsBenchmark } from './taskEventsBenchmark.js';
import { eventsBenchmark } from './eventsBenchmark.js';
import { dashboardBenchmark } from './dashboardBenchmark.js';
import { chaosBenchmark } from './chaosBenchmark.js';

export type Figures = Record<string, number>;

export interface BenchContext {
  /** Starts a fresh, empty in-memory Azurite and returns its connection string (direct endpoints). */
  freshStorage: () => Promise<string>;
}

export interface Benchmark {
  id: string;
  description: string;
  run(context: BenchContext): Promise<Figures>;
}

const APP = path.join(ROOT, 'test/bench/fixtures/runtime-app');

async function withRuntime<T>(storage: string, work: (runtime: RuntimeProcess) => Promise<T>): Promise<T> {
  const runtime = new RuntimeProcess({ app: APP, storage });
  await runtime.start();
  try {
    return await work(runtime);
  } finally {
    await runtime.dispose();
  }
}

/** Runs `count` tasks with at most `concurrency` in flight. */
async function pool(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

const seconds = (start: number) => (performance.now() - start) / 1000;

interface BatchServer {
  url: string;
  account: string;
  key: string;
  setFaults(faults: { latencyMs: number }): Promise<void>;
  stop(): Promise<void>;
}

/** The local Batch service in its own process, so the client measured does not share its event loop. */
async function startBatchServer(): Promise<BatchServer> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'test/bench/fixtures/localBatchServer.ts')],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout });
  const [first] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`the local Batch server exited with ${String(code)} before listening`);
    }),
  ])) as [string];
  const info = JSON.parse(first) as { url: string; account: string; key: string };
  return {
    ...info,
    async setFaults(faults) {
      const response = await fetch(`${info.url}/_local/faults`, {
        method: 'PUT',
        body: JSON.stringify(faults),
      });
      if (!response.ok) throw new Error(`setting faults failed: ${response.status}`);
    },
    async stop() {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export const benchmarks: Benchmark[] = [
  {
    id: 'fanout',
    description:
      'one 10,000-task job submitted through the Batch adapter to the local Batch service with 20 ms latency, against one add per task and against the bound',
    async run() {
      const count = Number(process.env.BENCH_TASKS ?? 10_000);
      const latencyMs = 20;
      const server = await startBatchServer();
      try {
        const credentials = {
          kind: 'sharedKey' as const,
          accountName: server.account,
          accountKey: server.key,
        };
        const adapter = new AzureBatch({ accountUrl: server.url, credentials });
        // No nodes: the benchmark measures adding tasks, not running them.
        await adapter.createPool({ id: 'bench', vmSize: 'standard_d2s_v3', dedicatedNodes: 0 });
        const tasks = (job: string): ComputeTaskSpec[] =>
          Array.from({ length: count }, (_, i) => ({
            id: String(i + 1),
            commandLine: `/bin/sh -c 'python3 step.py --job ${job} --index ${i + 1}'`,
            environment: { STEP: String(i + 1) },
            ...(i >= 100 ? { dependsOn: [String(i - 99)] } : {}),
          }));
        const submit = async (job: string, n = count) => {
          await adapter.ensureJob({ id: job, poolId: 'bench' });
          const start = performance.now();
          const report = await adapter.submitTasks(job, tasks(job).slice(0, n));
          const elapsed = seconds(start);
          if (report.added !== n) throw new Error(`${job}: added ${report.added} of ${n}`);
          return { elapsed, requests: report.requests };
        };

        // Warm both processes (JIT, sockets) so the first measurement is not charged for it.
        await submit('fanout-warmup', Math.min(count, 2000));
        const unloaded = await submit('fanout-no-latency');
        await server.setFaults({ latencyMs });
        const ours = await submit('fanout-ours');

        // The seed clients' pattern: one task.add per task, each awaited before the next.
        const client = new BatchServiceClient(
          new BatchSharedKeyCredentials(server.account, server.key),
          server.url,
        );
        await adapter.ensureJob({ id: 'fanout-naive', poolId: 'bench' });
        const naiveTasks = tasks('fanout-naive');
        const naiveStart = performance.now();
        for (const task of naiveTasks) {
          await client.task.add('fanout-naive', {
            id: task.id,
            commandLine: task.commandLine,
            environmentSettings: Object.entries(task.environment ?? {}).map(([name, value]) => ({
              name,
              value,
            })),
            ...(task.dependsOn ? { dependsOn: { taskIds: task.dependsOn } } : {}),
          });
        }
        const naiveSeconds = seconds(naiveStart);

        const boundSeconds = Math.max((Math.ceil(count / 100) * latencyMs) / 16 / 1000, unloaded.elapsed);
        return {
          oursSeconds: ours.elapsed,
          naiveSeconds,
          boundSeconds,
          naiveOverOurs: naiveSeconds / ours.elapsed,
          oursOverBound: ours.elapsed / boundSeconds,
          noLatencySeconds: unloaded.elapsed,
          requests: ours.requests,
        };
      } finally {
        await server.stop();
      }
    },
  },
  {
    id: 'runtime-fanout',
    description:
      'a 1,000-activity Durable fan-out on the embedded runtime, against the floor of writing its 2,000 history rows to Azurite',
    async run({ freshStorage }) {
      const count = 1000;
      const storage = await freshStorage();
      // Comparator: the history rows the fan-out must persist (TaskScheduled + TaskCompleted per
      // activity), written in table batches of 100 as fast as Azurite takes them.
      const table = TableClient.fromConnectionString(storage, `floor${Date.now()}`, {
        allowInsecureConnection: true,
      });
      await table.createTable();
      const floorStart = performance.now();
      const batches = Array.from({ length: (2 * count) / 100 }, (_, b) =>
        Array.from(
          { length: 100 },
          (_, i) =>
            [
              'upsert',
              {
                partitionKey: 'p',
                rowKey: String(b * 100 + i).padStart(8, '0'),
                EventJson: '{"EventType":5,"EventId":-1,"Result":"1"}',
              },
              'Replace',
            ] as const,
        ),
      );
      await Promise.all(batches.map((batch) => table.submitTransaction(batch.map((a) => [...a]))));
      const floorSeconds = seconds(floorStart);

      return withRuntime(storage, async (runtime) => {
        const runs: number[] = [];
        let last = { episodes: 0, replayMs: 0, historyEventsReplayed: 0 };
        for (let i = 0; i < 3; i++) {
          const before = await runtime.json<typeof last>('/admin/local/durable/stats');
          const start = performance.now();
          const { id } = await runtime.json<{ id: string }>(`/api/fanout/${count}`, { method: 'POST' });
          await waitForCompletion(runtime, id, 300_000);
          runs.push(seconds(start));
          const after = await runtime.json<typeof last>('/admin/local/durable/stats');
          last = {
            episodes: after.episodes - before.episodes,
            replayMs: after.replayMs - before.replayMs,
            historyEventsReplayed: after.historyEventsReplayed - before.historyEventsReplayed,
          };
        }
        const oursSeconds = runs.sort((a, b) => a - b)[1]!;
        return {
          oursSeconds,
          floorSeconds,
          oursOverFloor: oursSeconds / floorSeconds,
          episodes: last.episodes,
          replayMs: last.replayMs,
          historyEventsReplayed: last.historyEventsReplayed,
        };
      });
    },
  },
  {
    id: 'runtime-blob-events',
    description:
      '20,000 log blobs uploaded through the Event Grid proxy (32 writers) until every BlobCreated is delivered, against the same uploads straight to Azurite',
    async run({ freshStorage }) {
      const count = Number(process.env.BENCH_BLOBS ?? 20_000);
      const body = Buffer.alloc(512, 'l');
      const upload = async (blobs: BlobServiceClient, container: string) => {
        const client = blobs.getContainerClient(container);
        await client.createIfNotExists();
        const start = performance.now();
        await pool(count, 32, async (i) => {
          await client.getBlockBlobClient(`job/task-${i}/stdout.txt`).upload(body, body.length);
        });
        return seconds(start);
      };
      const directSeconds = await upload(
        BlobServiceClient.fromConnectionString(await freshStorage()),
        'bench-logs',
      );
      return withRuntime(await freshStorage(), async (runtime) => {
        const blobs = BlobServiceClient.fromConnectionString(runtime.info.connectionString);
        const start = performance.now();
        const uploadSeconds = await upload(blobs, 'bench-logs');
        const stats = await waitFor(
          async () => {
            const seen = await runtime.json<{ total: number; distinct: number }>('/api/stats/events');
            return seen.distinct >= count ? seen : undefined;
          },
          { timeoutMs: 600_000, intervalMs: 200, what: 'every event to be delivered' },
        );
        const deliveredSeconds = seconds(start);
        return {
          uploadSeconds,
          directSeconds,
          uploadOverDirect: uploadSeconds / directSeconds,
          deliveredSeconds,
          eventsPerSecond: count / deliveredSeconds,
          lost: count - stats.distinct,
          doubled: stats.total - stats.distinct,
        };
      });
    },
  },
  ...jobBenchmarks,
  submitBenchmark,
  notifyBenchmark,
  transferBenchmark,
  taskEventsBenchmark,
  eventsBenchmark,
  dashboardBenchmark,
  chaosBenchmark,
];

import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { TableClient } from '@azure/data-tables';
import { ROOT, RuntimeProcess } from '../support/runtimeProcess.js';
import { waitForCompletion } from '../support/durable.js';
import { waitFor } from '../support/waitFor.js';

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

export const benchmarks: Benchmark[] = [
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
];

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { TableClient } from '@azure/data-tables';
import { readStatus } from '../support/durable.js';
import { freePort } from '../support/freePort.js';
import { ROOT, RuntimeProcess } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';
import type { Benchmark } from './benchmarks.js';

interface JobState {
  id: string;
  status: string;
  taskCount: number;
  taskCounts: Record<string, number>;
}

const ENDED = new Set(['FINISHED', 'FAILED', 'CANCELLED']);
const seconds = (start: number) => (performance.now() - start) / 1000;

/** The cloudjobs app itself on the embedded runtime, with a pool of `slots` task slots. */
function appRuntime(storage: string, slots: number, extraArgs: string[] = []): RuntimeProcess {
  return new RuntimeProcess({
    app: ROOT,
    storage,
    env: { CLOUDJOBS_LOG_LEVEL: 'warning' },
    args: ['--batch-slots', String(slots), ...extraArgs],
  });
}

async function submit(runtime: RuntimeProcess, spec: unknown): Promise<string> {
  const job = await runtime.json<JobState>('/api/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(spec),
  });
  return job.id;
}

async function until(
  runtime: RuntimeProcess,
  id: string,
  done: (job: JobState) => boolean,
  timeoutMs = 1_800_000,
): Promise<JobState> {
  return waitFor(
    async () => {
      const job = await runtime.json<JobState>(`/api/jobs/${id}`);
      return done(job) ? job : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `job ${id}` },
  );
}

async function finished(runtime: RuntimeProcess, id: string): Promise<JobState> {
  const job = await until(runtime, id, (j) => ENDED.has(j.status));
  if (job.status !== 'FINISHED') throw new Error(`job ${id} ended ${job.status}`);
  return job;
}

async function shell(command: string): Promise<number> {
  const start = performance.now();
  const child = spawn('sh', ['-c', command], { stdio: 'ignore' });
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`${command}: exit ${code}`);
  return seconds(start);
}

/** Events stored in the orchestration's history (Durable's history table, one row per event). */
async function historyEvents(runtime: RuntimeProcess, instanceId: string): Promise<number> {
  await waitFor(async () => {
    const status = await readStatus(runtime, instanceId);
    return status?.runtimeStatus === 'Completed' ? true : undefined;
  });
  const table = TableClient.fromConnectionString(runtime.options.storage, `${runtime.info.hubName}History`, {
    allowInsecureConnection: true,
  });
  let rows = 0;
  for await (const entity of table.listEntities({
    queryOptions: { filter: `PartitionKey eq '${instanceId}'`, select: ['RowKey'] },
  })) {
    if (entity.rowKey !== 'sentinel') rows++;
  }
  return rows;
}

/**
 * Where a job's time went, from its history: seconds until its tasks were on Batch (`toQueued`:
 * inputs, staging, submission), running them (`running`: QUEUED to ARCHIVING), and archiving.
 */
async function stageSeconds(runtime: RuntimeProcess, id: string): Promise<Record<string, number>> {
  const { items } = await runtime.json<{ items: Array<{ status: string; at: string }> }>(
    `/api/jobs/${id}/history`,
  );
  const at = (status: string) => Date.parse(items.find((entry) => entry.status === status)?.at ?? '');
  const between = (from: string, to: string) => (at(to) - at(from)) / 1000;
  return {
    toQueuedSeconds: between('PENDING', 'QUEUED'),
    runningSeconds: between('QUEUED', 'ARCHIVING'),
    archivingSeconds: between('ARCHIVING', 'FINISHED'),
  };
}

/** The benchmarks of whole jobs on the embedded runtime (see docs/benchmarks.md). */
export const jobBenchmarks: Benchmark[] = [
  {
    id: 'makespan',
    description: 'one 1,000-task job of `sleep 0.2` on 8 slots, POST to FINISHED, against xargs -P 8',
    async run({ freshStorage }) {
      const xargsSeconds = await shell('seq 1000 | xargs -P 8 -I{} sleep 0.2');
      const runtime = appRuntime(await freshStorage(), 8);
      await runtime.start();
      try {
        const start = performance.now();
        const id = await submit(runtime, {
          name: 'makespan',
          sweep: { command: 'sleep 0.2', range: [1, 1000] },
        });
        await finished(runtime, id);
        const oursSeconds = seconds(start);
        return { oursSeconds, xargsSeconds, oursOverXargs: oursSeconds / xargsSeconds };
      } finally {
        await runtime.dispose();
      }
    },
  },
  {
    id: 'throughput',
    description:
      'one 10,000-task job of `true` on 16 slots, POST to FINISHED: tasks per second, and where the time went',
    async run({ freshStorage }) {
      const count = 10_000;
      const runtime = appRuntime(await freshStorage(), 16);
      await runtime.start();
      try {
        const start = performance.now();
        const id = await submit(runtime, {
          name: 'throughput',
          sweep: { command: 'true', range: [1, count] },
        });
        await finished(runtime, id);
        const total = seconds(start);
        return { tasksPerSecond: count / total, seconds: total, ...(await stageSeconds(runtime, id)) };
      } finally {
        await runtime.dispose();
      }
    },
  },
  {
    id: 'dag',
    description:
      '100 chains of 10 dependent `sleep 0.05` tasks on 8 slots, against max(work / slots, longest chain)',
    async run({ freshStorage }) {
      const chains = 100;
      const length = 10;
      const tasks = [];
      for (let c = 0; c < chains; c++) {
        for (let s = 0; s < length; s++) {
          tasks.push({
            id: `c${c}-${s}`,
            command: 'sleep 0.05',
            ...(s > 0 ? { dependsOn: [`c${c}-${s - 1}`] } : {}),
          });
        }
      }
      const boundSeconds = Math.max((chains * length * 0.05) / 8, length * 0.05);
      const runtime = appRuntime(await freshStorage(), 8);
      await runtime.start();
      try {
        const start = performance.now();
        const id = await submit(runtime, { name: 'dag', tasks });
        await finished(runtime, id);
        const oursSeconds = seconds(start);
        return { oursSeconds, boundSeconds, oursOverBound: oursSeconds / boundSeconds };
      } finally {
        await runtime.dispose();
      }
    },
  },
  {
    id: 'history',
    description: 'orchestration history events per job of 10, 1,000 and 10,000 tasks',
    async run({ freshStorage }) {
      const runtime = appRuntime(await freshStorage(), 16);
      await runtime.start();
      try {
        const figures: Record<string, number> = {};
        for (const count of [10, 1000, 10_000]) {
          const id = await submit(runtime, {
            name: `history${count}`,
            sweep: { command: 'true', range: [1, count] },
          });
          await finished(runtime, id);
          figures[`events${count}`] = await historyEvents(runtime, id);
        }
        return figures;
      } finally {
        await runtime.dispose();
      }
    },
  },
  {
    id: 'recover',
    description: 'kill -9 the runtime with a 2,000-task job half done, start it again, until FINISHED',
    async run({ freshStorage }) {
      const count = 2000;
      // The same ports after the restart, as Azure's endpoints stay put: the job's plan holds URLs.
      const ports = ['--batch-port', String(await freePort()), '--blob-port', String(await freePort())];
      const runtime = appRuntime(await freshStorage(), 8, ports);
      await runtime.start();
      try {
        const id = await submit(runtime, {
          name: 'recover',
          sweep: { command: 'sleep 0.05', range: [1, count] },
        });
        await until(runtime, id, (job) => (job.taskCounts.SUCCEEDED ?? 0) >= count / 2);
        await runtime.kill();
        const start = performance.now();
        await runtime.start();
        const job = await finished(runtime, id);
        const resumeSeconds = seconds(start);
        const counted = Object.values(job.taskCounts).reduce((a, b) => a + b, 0);
        return {
          resumeSeconds,
          lost: count - (job.taskCounts.SUCCEEDED ?? 0),
          doubled: Math.max(0, counted - count),
        };
      } finally {
        await runtime.dispose();
      }
    },
  },
];

import { readFile } from 'node:fs/promises';
import { ROOT, RuntimeProcess } from '../support/runtimeProcess.js';
import { followJob, type SseEvent } from '../support/eventStream.js';
import type { Benchmark } from './benchmarks.js';

const STREAMS = Number(process.env.CLOUDJOBS_BENCH_STREAMS ?? 200);
const TASKS = Number(process.env.CLOUDJOBS_BENCH_EVENTS_TASKS ?? 1000);
const SLOTS = 16;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;

/** CPU time a process has used (user + system), in ms, from /proc. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) are space-separated; utime and stime
  // are the 14th and 15th fields of the whole line.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100;
}

const spec = (name: string) => ({
  name,
  sweep: { command: 'sleep 0.05', range: [1, TASKS] },
});

/**
 * `events`: 200 Server-Sent Event streams on one job of 1,000 tasks, opened as the job is
 * submitted. Every stream must get every change, once and in order (`lost`, `outOfOrder`, counted
 * over all streams against the job's own records afterwards); `p99Ms` is from a change's time (when
 * it was recorded) to its arrival on a stream. `cpuMsPerStream` is the runtime's CPU time for the
 * job with the streams, less that for the same job on a fresh runtime with none, per stream.
 */
export const eventsBenchmark: Benchmark = {
  id: 'events',
  description: `${STREAMS} concurrent event streams on one ${TASKS.toLocaleString('en')}-task job`,
  async run({ freshStorage }) {
    const fresh = async () => {
      const runtime = new RuntimeProcess({
        app: ROOT,
        storage: await freshStorage(),
        env: { CLOUDJOBS_LOG_LEVEL: 'warning' },
        args: ['--batch-slots', String(SLOTS)],
      });
      await runtime.start();
      return runtime;
    };
    const submit = async (runtime: RuntimeProcess, name: string) =>
      (
        await runtime.json<{ id: string }>('/api/jobs', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(spec(name)),
        })
      ).id;
    const untilEnded = async (runtime: RuntimeProcess, id: string) => {
      for (;;) {
        const job = await runtime.json<{ status: string }>(`/api/jobs/${id}`);
        if (['FINISHED', 'FAILED', 'CANCELLED'].includes(job.status)) return job.status;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };

    // The same job with nobody watching: the CPU the job itself costs the runtime.
    let quiet = await fresh();
    let baselineCpuMs: number;
    let baselineSeconds: number;
    try {
      const before = await cpuMs(quiet.pid!);
      const start = performance.now();
      await untilEnded(quiet, await submit(quiet, 'unwatched'));
      baselineSeconds = (performance.now() - start) / 1000;
      baselineCpuMs = (await cpuMs(quiet.pid!)) - before;
    } finally {
      await quiet.dispose();
    }

    quiet = await fresh();
    const runtime = quiet;
    try {
      const before = await cpuMs(runtime.pid!);
      const start = performance.now();
      const id = await submit(runtime, 'watched');
      const delays: number[] = [];
      const streams = await Promise.all(
        Array.from({ length: STREAMS }, () =>
          followJob(
            (lastEventId) =>
              runtime.fetch(`/api/jobs/${id}/events`, {
                headers: lastEventId ? { 'last-event-id': lastEventId } : {},
              }),
            {
              timeoutMs: 600_000,
              onEvent: (event: SseEvent) => {
                if (event.event !== 'job.progress') {
                  delays.push(Date.now() - Date.parse((event.data as unknown as { time: string }).time));
                }
              },
            },
          ),
        ),
      );
      const seconds = (performance.now() - start) / 1000;
      const cpu = (await cpuMs(runtime.pid!)) - before;
      const history = await runtime.json<{ items: Array<{ sequence: number; taskSequence?: number }> }>(
        `/api/jobs/${id}/history`,
      );
      const expected = history.items.length + (history.items.at(-1)?.taskSequence ?? 0);
      let lost = 0;
      let outOfOrder = 0;
      let doubled = 0;
      for (const { events } of streams) {
        const changes = events.filter((e) => e.event !== 'job.progress');
        const distinct = new Set(changes.map((e) => e.data.id));
        lost += Math.max(0, expected - distinct.size);
        doubled += changes.length - distinct.size;
        const positions = changes.map((e) => e.id.split('.').map(Number) as [number, number]);
        outOfOrder += positions.filter(
          ([job, tasks], i) => i > 0 && !(job >= positions[i - 1]![0] && tasks >= positions[i - 1]![1]),
        ).length;
      }
      delays.sort((a, b) => a - b);
      return {
        streams: STREAMS,
        tasks: TASKS,
        eventsPerStream: expected,
        p50Ms: percentile(delays, 50),
        p99Ms: percentile(delays, 99),
        lost,
        doubled,
        outOfOrder,
        reconnects: streams.reduce((n, s) => n + s.connections - 1, 0),
        cpuMsPerStream: Math.max(0, cpu - baselineCpuMs) / STREAMS,
        watchedSeconds: seconds,
        unwatchedSeconds: baselineSeconds,
        watchedOverUnwatched: seconds / baselineSeconds,
      };
    } finally {
      await runtime.dispose();
    }
  },
};

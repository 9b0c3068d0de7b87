import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { prng } from './prng.js';
import type { RuntimeProcess } from './runtimeProcess.js';
import { waitFor } from './waitFor.js';

/** A task that leaves a line once its command has run to its end, so completed runs can be counted. */
export const COUNTED_COMMAND = 'sleep 0.05 && echo $AZ_BATCH_TASK_ID >> $AZ_BATCH_NODE_SHARED_DIR/completed';

/** The seed of a chaos run: `CLOUDJOBS_CHAOS_SEED`, else a new one (print it, to repeat a failure). */
export function chaosSeed(): number {
  return Number(process.env.CLOUDJOBS_CHAOS_SEED ?? Date.now() % 1_000_000);
}

/**
 * Kills the runtime with SIGKILL `kills` times and starts it again each time: first at a random
 * moment of the job's start (0-1.5 s after it was accepted: inputs, staging, submission to
 * Batch), then once the job has reached random points of its progress, in order.
 */
export async function killAtRandomMoments(
  runtime: RuntimeProcess,
  options: { tasks: number; kills: number; seed: number; succeeded: () => Promise<number> },
): Promise<{ restartSeconds: number[] }> {
  const next = prng(options.seed);
  const marks = Array.from({ length: options.kills - 1 }, () =>
    Math.floor(options.tasks * (0.05 + 0.85 * next())),
  ).sort((a, b) => a - b);
  const restartSeconds: number[] = [];
  // Not a wait for anything: the moment of the first kill.
  await new Promise((resolve) => setTimeout(resolve, Math.floor(next() * 1500)));
  for (let kill = 0; kill < options.kills; kill++) {
    const mark = marks[kill - 1];
    if (mark !== undefined) {
      await waitFor(async () => ((await options.succeeded()) >= mark ? true : undefined), {
        timeoutMs: 600_000,
        intervalMs: 50,
        what: `${mark} tasks to succeed`,
      });
    }
    await runtime.kill();
    const start = performance.now();
    await runtime.start();
    restartSeconds.push((performance.now() - start) / 1000);
  }
  return { restartSeconds };
}

/** Tasks whose command ran to its end more than once, and how many distinct tasks did. */
export async function completedRuns(runtime: RuntimeProcess): Promise<{ distinct: number; twice: string[] }> {
  const file = path.join(runtime.home, 'batch', 'nodes', 'local-node', 'shared', 'completed');
  const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const task of lines) {
    if (seen.has(task)) twice.push(task);
    seen.add(task);
  }
  return { distinct: seen.size, twice };
}

/**
 * Activity executions the runtime logged as completed (at debug level), and how many of those
 * ran an activity a second time (same orchestration instance and scheduled event).
 */
export function activityRuns(output: string): { executions: number; repeated: number } {
  const runs = new Map<string, number>();
  for (const match of output.matchAll(/Executed \(Succeeded, activity of (\S+) \(event (\d+)\)/g)) {
    const key = `${match[1]}#${match[2]}`;
    runs.set(key, (runs.get(key) ?? 0) + 1);
  }
  let executions = 0;
  for (const count of runs.values()) executions += count;
  return { executions, repeated: executions - runs.size };
}

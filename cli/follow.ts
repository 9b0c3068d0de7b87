import cliProgress from 'cli-progress';
import type { CloudJobsClient, Job, JobEvent, TaskStatus } from '../client/index.js';
import { doneCount, duration, stamp, stateSummary } from './format.js';

/** Where the live view writes. */
export interface Terminal {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream;
}

/** Plain output prints progress at most this often, besides every status change. */
const PLAIN_PROGRESS_MS = 5000;

/**
 * Follows a job to its end: on a terminal, a progress bar (tasks done of all, by state, time,
 * rate) with status changes and failed tasks printed above it; elsewhere, a timestamped line per
 * status change, failed task and, every few seconds, progress. With `json`, one event per line.
 * Answers the job as it ended.
 */
export async function followJob(
  client: CloudJobsClient,
  id: string,
  terminal: Terminal,
  options: { json?: boolean; signal?: AbortSignal } = {},
): Promise<Job> {
  const job = await client.jobs.get(id);
  const started = Date.now();
  const live = !options.json && terminal.out.isTTY === true;
  let counts: Record<TaskStatus, number> = job.taskCounts;
  let status = job.status;
  let lastPlain = 0;
  const bar = live
    ? new cliProgress.MultiBar(
        {
          format: ' {bar} {done}/{total} tasks | {states} | {elapsed} | {rate}/s | {status}',
          barCompleteChar: '█',
          barIncompleteChar: '░',
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
          stream: terminal.out,
          fps: 10,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const line = bar?.create(Math.max(1, job.taskCount), 0);
  const payload = () => {
    const done = doneCount(counts);
    const seconds = (Date.now() - started) / 1000;
    return {
      done,
      total: job.taskCount,
      states: stateSummary(counts),
      elapsed: duration(Date.now() - started),
      rate: seconds > 0 ? (done / seconds).toFixed(1) : '0.0',
      status,
    };
  };
  const say = (text: string) => {
    if (bar) bar.log(`${text}\n`);
    else terminal.out.write(`${stamp()} ${text}\n`);
  };
  const refresh = () => {
    const values = payload();
    line?.update(values.done, values);
  };
  const ticker = bar ? setInterval(refresh, 1000) : undefined;
  try {
    refresh();
    for await (const event of client.jobs.events(id, options.signal ? { signal: options.signal } : {})) {
      if (options.json) {
        terminal.out.write(`${JSON.stringify({ ...event.data, event: event.event, eventId: event.id })}\n`);
      }
      handle(event);
    }
  } finally {
    if (ticker) clearInterval(ticker);
    refresh();
    bar?.stop();
  }
  return client.jobs.get(id);

  function handle(event: JobEvent): void {
    if (event.event === 'job.progress') {
      counts = event.data.data.taskCounts;
      status = event.data.data.status;
      if (!live && !options.json && Date.now() - lastPlain >= PLAIN_PROGRESS_MS) {
        lastPlain = Date.now();
        say(`progress ${doneCount(counts)}/${job.taskCount} tasks (${stateSummary(counts)})`);
      }
    } else if (event.event === 'job.status.changed') {
      const data = event.data.data;
      status = data.status;
      counts = data.taskCounts;
      if (!options.json)
        say(`job ${data.status}${data.condition ? ` (${data.condition})` : ''}: ${data.message}`);
    } else if (event.data.data.status === 'FAILED' && !options.json) {
      const task = event.data.data;
      say(
        `task ${task.taskId} FAILED` +
          (task.exitCode !== undefined ? ` with exit code ${task.exitCode}` : '') +
          (task.failure ? `: ${task.failure.message}` : '') +
          (task.attempt > 1 ? ` (attempt ${task.attempt})` : ''),
      );
    }
    refresh();
  }
}

/** The closing lines for a job that ended: what it ended as and, if it failed, which tasks. */
export function outcomeLines(job: Job): string[] {
  const lines = [
    `job ${job.id} ${job.status}${job.condition ? ` (${job.condition})` : ''}: ${job.message}`,
    `tasks: ${stateSummary(job.taskCounts)}`,
  ];
  const failed = Object.entries(job.exitCodes ?? {});
  if (failed.length > 0) {
    lines.push(
      `failed tasks: ${failed
        .slice(0, 20)
        .map(([task, code]) => `${task} (exit ${code})`)
        .join(', ')}${failed.length > 20 ? `, and ${failed.length - 20} more` : ''}`,
    );
    lines.push(`see a task's log: cloudjobs logs ${job.id} ${failed[0]![0]} --stderr`);
  }
  return lines;
}

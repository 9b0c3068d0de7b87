import cliProgress from 'cli-progress';
import type { DownloadResult } from '../client/index.js';
import type { Context } from './context.js';
import { bytes, stamp } from './format.js';

/** Progress of a transfer, told as bytes move. */
export interface Transfer {
  update(done: number, total: number, extra?: { files: number; totalFiles: number }): void;
  stop(): void;
}

/**
 * Shows a transfer's progress: a bar (bytes, files when several, speed) on a terminal, a line
 * every few seconds elsewhere (and at the end), nothing with --json. Speed counts only the bytes
 * moved now, not those a resumed transfer already had.
 */
export function transferProgress(context: Context, label: string): Transfer {
  const { out } = context.terminal;
  const live = !context.json && (out as { isTTY?: boolean }).isTTY === true;
  let bar: cliProgress.SingleBar | undefined;
  const started = Date.now();
  let first: number | undefined;
  let lastLine = 0;
  return {
    update(done, total, extra) {
      first ??= done;
      const values = {
        label,
        done: bytes(done),
        size: bytes(total),
        files: extra ? ` | ${extra.files}/${extra.totalFiles} files` : '',
        speed: bytes(Math.round((done - first) / Math.max(0.001, (Date.now() - started) / 1000))),
      };
      if (live) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              format: ' {label} {bar} {percentage}% | {done} of {size}{files} | {speed}/s',
              hideCursor: true,
              stream: out,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(Math.max(1, total), done, values);
        }
        bar.update(done, values);
      } else if (!context.json && (Date.now() - lastLine > 5000 || done === total)) {
        lastLine = Date.now();
        context.terminal.err.write(`${stamp()} ${label}${values.files}: ${values.done} of ${values.size}\n`);
      }
    },
    stop() {
      bar?.stop();
    },
  };
}

/** Downloads a job's outputs with progress (see {@link transferProgress}). */
export async function downloadWithProgress(
  context: Context,
  id: string,
  dir: string,
): Promise<DownloadResult> {
  const progress = transferProgress(context, id);
  try {
    return await context.client.jobs.download(id, dir, {
      onProgress: (p) => progress.update(p.bytes, p.totalBytes, { files: p.files, totalFiles: p.totalFiles }),
    });
  } finally {
    progress.stop();
  }
}

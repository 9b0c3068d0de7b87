import cliProgress from 'cli-progress';
import type { DownloadResult } from '../client/index.js';
import type { Context } from './context.js';
import { bytes, stamp } from './format.js';

/**
 * Downloads a job's outputs: with a progress bar (bytes, files, speed) on a terminal, a line per
 * few seconds elsewhere, nothing with --json.
 */
export async function downloadWithProgress(
  context: Context,
  id: string,
  dir: string,
): Promise<DownloadResult> {
  const { out } = context.terminal;
  const live = !context.json && (out as { isTTY?: boolean }).isTTY === true;
  const bar = live
    ? new cliProgress.SingleBar(
        {
          format: ' {bar} {percentage}% | {done} of {size} | {files}/{totalFiles} files | {speed}/s',
          hideCursor: true,
          stream: out,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const started = Date.now();
  let lastLine = 0;
  let begun = false;
  try {
    return await context.client.jobs.download(id, dir, {
      onProgress: (p) => {
        const values = {
          done: bytes(p.bytes),
          size: bytes(p.totalBytes),
          files: p.files,
          totalFiles: p.totalFiles,
          speed: bytes(Math.round(p.bytes / Math.max(0.001, (Date.now() - started) / 1000))),
        };
        if (bar) {
          if (!begun) bar.start(Math.max(1, p.totalBytes), 0, values);
          begun = true;
          bar.update(p.bytes, values);
        } else if (!context.json && (Date.now() - lastLine > 5000 || p.files === p.totalFiles)) {
          lastLine = Date.now();
          context.terminal.err.write(
            `${stamp()} ${values.files}/${values.totalFiles} files, ${values.done} of ${values.size}\n`,
          );
        }
      },
    });
  } finally {
    bar?.stop();
  }
}

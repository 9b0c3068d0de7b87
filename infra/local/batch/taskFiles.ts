import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { BatchState } from './batchState.js';
import { BatchServiceError } from './errors.js';
import { taskDirectories } from './executor.js';
import type { Reply, Request } from './batchRoutes.js';

/**
 * `Task - Get File` and `Task - Get File Properties`: a file of a task's directory on its node,
 * as Batch serves it while the node keeps it (`stdout.txt`, `stderr.txt`, `wd/...`). `ocp-range:
 * bytes=a-b` (or `Range`) reads part of it, with `a-` to the end, as a growing log is followed.
 */
export async function taskFile(
  state: BatchState,
  request: Request & { headers: Record<string, string | undefined> },
): Promise<Reply> {
  const { jobId, taskId, filePath } = request.params;
  const job = state.getJob(jobId!);
  const task = state.getTask(jobId!, taskId!);
  const { taskDir } = taskDirectories(state.nodeRoot, job.record.id, task.record.spec.id);
  const file = path.resolve(taskDir, decodeURIComponent(filePath ?? ''));
  if (file !== taskDir && !file.startsWith(taskDir + path.sep)) {
    throw new BatchServiceError(400, 'InvalidUri', 'The file path is outside the task directory.');
  }
  const info = await stat(file).catch(() => undefined);
  if (!info) throw new BatchServiceError(404, 'FileNotFound', 'The specified file does not exist.');
  const headers: Record<string, string> = {
    'ocp-batch-file-isdirectory': String(info.isDirectory()),
    'ocp-batch-file-url': `${request.url.origin}${request.url.pathname}`,
    'ocp-creation-time': info.birthtime.toUTCString(),
    'Last-Modified': info.mtime.toUTCString(),
    'Content-Type': 'application/octet-stream',
  };
  if (info.isDirectory() || request.method === 'HEAD') {
    return {
      status: 200,
      headers: { ...headers, 'Content-Length': String(info.isDirectory() ? 0 : info.size) },
    };
  }
  const range = parseRange(request.headers['ocp-range'] ?? request.headers.range, info.size);
  if (range && range.start >= info.size) {
    // Nothing from there yet: what a follower of a growing log is told until more is written.
    return { status: 200, headers: { ...headers, 'Content-Length': '0' } };
  }
  const start = range?.start ?? 0;
  const end = Math.min(range?.end ?? info.size - 1, info.size - 1);
  return {
    status: 200,
    headers: { ...headers, 'Content-Length': String(end - start + 1) },
    stream: createReadStream(file, { start, end }),
  };
}

/** `bytes=a-b` or `bytes=a-`; anything else is refused as Batch refuses it. */
function parseRange(value: string | undefined, size: number): { start: number; end?: number } | undefined {
  if (!value) return undefined;
  const match = /^bytes=(\d+)-(\d*)$/.exec(value.trim());
  if (!match) {
    throw new BatchServiceError(
      400,
      'InvalidHeaderValue',
      'The value for one of the HTTP headers is not in the correct format.',
      [{ key: 'HeaderName', value: 'ocp-range' }],
    );
  }
  const start = Number(match[1]);
  const end = match[2] ? Number(match[2]) : undefined;
  if (end !== undefined && end < start) {
    throw new BatchServiceError(
      416,
      'InvalidRange',
      `The range ${value} is not satisfiable for a file of ${size} bytes.`,
    );
  }
  return { start, ...(end !== undefined ? { end } : {}) };
}

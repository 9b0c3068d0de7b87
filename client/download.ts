import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CloudJobsClient } from './client.js';
import type { OutputFile } from './types.js';

/** How to download a job's outputs. */
export interface DownloadOptions {
  /** Files downloaded at once; 4 unless given. */
  concurrency?: number;
  /** Told as bytes arrive: bytes so far of the whole download and its total. */
  onProgress?: (progress: { bytes: number; totalBytes: number; files: number; totalFiles: number }) => void;
  signal?: AbortSignal;
}

/** What a download did. */
export interface DownloadResult {
  /** Files written now. */
  downloaded: string[];
  /** Files already there whole (same size), kept: a download cut short picks up where it was. */
  kept: string[];
  bytes: number;
}

/**
 * Downloads every output file of a job into `dir`, at `<dir>/<taskId>/<path>`. Each file goes to
 * `<file>.part` and is renamed only once its size is the listed one, so a file with its own name
 * is whole; a second run keeps those and fetches the rest.
 */
export async function downloadOutputs(
  client: CloudJobsClient,
  jobId: string,
  dir: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const listing = await client.jobs.outputs(jobId);
  const root = path.resolve(dir);
  const targets = listing.files.map((file) => ({ file, target: inside(root, file.path) }));
  const result: DownloadResult = { downloaded: [], kept: [], bytes: 0 };
  // Files finish in any order; the answer lists them in the listing's.
  const outcome: Array<'kept' | 'downloaded'> = [];
  let bytes = 0;
  let files = 0;
  const totalBytes = listing.files.reduce((n, f) => n + f.size, 0);
  const report = () => options.onProgress?.({ bytes, totalBytes, files, totalFiles: listing.files.length });
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const index = next++;
      const { file, target } = targets[index]!;
      if ((await sizeOf(target)) === file.size) {
        outcome[index] = 'kept';
        bytes += file.size;
      } else {
        await fetchOne(
          client,
          jobId,
          file,
          target,
          (n) => {
            bytes += n;
            report();
          },
          options.signal,
        );
        outcome[index] = 'downloaded';
        result.bytes += file.size;
      }
      files++;
      report();
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, targets.length)) }, worker),
  );
  targets.forEach(({ file }, i) => result[outcome[i]!].push(file.path));
  return result;
}

async function fetchOne(
  client: CloudJobsClient,
  jobId: string,
  file: OutputFile,
  target: string,
  progress: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const part = `${target}.part`;
  const response = await client.jobs.output(jobId, file.path, signal);
  let received = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length;
      progress(chunk.length);
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(response.body as Parameters<typeof Readable.fromWeb>[0]),
      count,
      createWriteStream(part),
      ...(signal ? [{ signal }] : []),
    );
    if (received !== file.size) {
      throw new Error(`${file.path}: received ${received} bytes, the listing says ${file.size}`);
    }
    await rename(part, target);
  } catch (error) {
    await rm(part, { force: true });
    throw error;
  }
}

/** `dir/relative`, refusing a path that would leave `dir` (the listing is the server's word). */
function inside(root: string, relative: string): string {
  const target = path.resolve(root, relative);
  if (!target.startsWith(root + path.sep)) throw new Error(`refusing to write outside ${root}: ${relative}`);
  return target;
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

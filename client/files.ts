import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlockBlobClient } from '@azure/storage-blob';
import type { CloudJobsClient } from './client.js';
import { CloudJobsError } from './errors.js';

/** How to upload one of your files. */
export interface FileUploadOptions {
  /** Bytes per block; 8 MiB unless given (storage allows up to 50,000 blocks of a blob). */
  blockSize?: number;
  /** Blocks sent at once; 8 unless given. */
  concurrency?: number;
  /** Told as blocks land: bytes of the file in storage so far (resumed blocks included) and its size. */
  onProgress?: (progress: { bytes: number; totalBytes: number; resumedBytes: number }) => void;
  signal?: AbortSignal;
}

/** What an upload did. */
export interface FileUploadResult {
  path: string;
  /** What a job spec names it by. */
  source: string;
  size: number;
  blocks: number;
  /** Blocks found already in storage from an interrupted upload of the same file, not sent again. */
  resumedBlocks: number;
}

const MAX_BLOCKS = 50_000;

/**
 * Uploads a local file to your files at `remotePath`, straight to storage in blocks sent in
 * parallel. Block ids are derived from the file (its path in your files, size, modification time,
 * block size) and the block's number, so an upload cut short and run again finds the blocks
 * storage already holds uncommitted (they are kept for a week) and sends only the rest. The file
 * appears whole or not at all: only the final block list makes it visible.
 */
export async function uploadFile(
  client: CloudJobsClient,
  localFile: string,
  remotePath: string,
  options: FileUploadOptions = {},
): Promise<FileUploadResult> {
  const info = await stat(localFile);
  if (!info.isFile()) throw new Error(`${localFile} is not a file`);
  const size = info.size;
  const blockSize = Math.max(
    options.blockSize ?? 8 * 1024 * 1024,
    Math.ceil(size / MAX_BLOCKS / (1024 * 1024)) * 1024 * 1024,
  );
  const count = Math.max(1, Math.ceil(size / blockSize));
  const target = await client.files.uploadUrl(remotePath);
  const blob = new BlockBlobClient(target.url);
  const fingerprint = createHash('sha256')
    .update(`${remotePath}\n${size}\n${Math.trunc(info.mtimeMs)}\n${blockSize}`)
    .digest('hex')
    .slice(0, 16);
  const blockId = (index: number) =>
    Buffer.from(`${fingerprint}-${String(index).padStart(6, '0')}`).toString('base64');

  const have = new Set<string>();
  try {
    const list = await blob.getBlockList('uncommitted', { abortSignal: options.signal });
    for (const block of list.uncommittedBlocks ?? []) have.add(`${block.name}:${block.size}`);
  } catch (error) {
    // A blob nobody has started yet has no block list.
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  const lengthOf = (index: number) => Math.min(blockSize, size - index * blockSize);
  const todo: number[] = [];
  let done = 0;
  for (let index = 0; index < count; index++) {
    if (size > 0 && have.has(`${blockId(index)}:${lengthOf(index)}`)) done += lengthOf(index);
    else todo.push(index);
  }
  const resumedBytes = done;
  const report = () => options.onProgress?.({ bytes: done, totalBytes: size, resumedBytes });
  report();

  if (size > 0) {
    const file = await open(localFile, 'r');
    try {
      let next = 0;
      const worker = async () => {
        while (next < todo.length) {
          const index = todo[next++]!;
          const buffer = Buffer.allocUnsafe(lengthOf(index));
          const { bytesRead } = await file.read(buffer, 0, buffer.length, index * blockSize);
          if (bytesRead !== buffer.length)
            throw new Error(`${localFile} changed while it was being uploaded`);
          await blob.stageBlock(blockId(index), buffer, buffer.length, { abortSignal: options.signal });
          done += buffer.length;
          report();
        }
      };
      await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, todo.length) }, worker));
    } finally {
      await file.close();
    }
  }
  await blob.commitBlockList(size > 0 ? Array.from({ length: count }, (_, i) => blockId(i)) : [], {
    abortSignal: options.signal,
    blobHTTPHeaders: { blobContentType: contentTypeOf(remotePath) },
  });
  return {
    path: target.path,
    source: `files://${target.path}`,
    size,
    blocks: size > 0 ? count : 0,
    resumedBlocks: size > 0 ? count - todo.length : 0,
  };
}

/** How to download one of your files. */
export interface FileDownloadOptions {
  onProgress?: (progress: { bytes: number; totalBytes: number }) => void;
  signal?: AbortSignal;
}

/**
 * Downloads one of your files to `localFile`, through `<localFile>.part`: a download cut short
 * and run again asks only for the bytes after what the part file has (a `Range` request), and the
 * file gets its own name only once whole.
 */
export async function downloadFile(
  client: CloudJobsClient,
  remotePath: string,
  localFile: string,
  options: FileDownloadOptions = {},
): Promise<{ path: string; file: string; size: number; resumedBytes: number }> {
  const part = `${localFile}.part`;
  const had = await stat(part).then(
    (s) => s.size,
    () => 0,
  );
  const signal = options.signal ? { signal: options.signal } : {};
  let response: Response | undefined;
  let offset = had;
  if (had > 0) {
    try {
      response = await client.files.download(remotePath, { offset: had, ...signal });
    } catch (error) {
      // A part as long as the file (or longer: it was replaced by a shorter one) has no range left.
      if (!(error instanceof CloudJobsError && error.status === 416)) throw error;
    }
    if (response?.status !== 206) {
      await response?.body?.cancel();
      response = undefined;
    }
  }
  if (!response) {
    response = await client.files.download(remotePath, signal);
    offset = 0;
  }
  const range = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
  const total = range ? Number(range[1]) : Number(response.headers.get('content-length') ?? NaN);
  let bytes = offset;
  options.onProgress?.({ bytes, totalBytes: total });
  const count = new Transform({
    transform(chunk: Buffer, _encoding, next) {
      bytes += chunk.length;
      options.onProgress?.({ bytes, totalBytes: total });
      next(null, chunk);
    },
  });
  await pipeline(
    Readable.fromWeb(response.body as Parameters<typeof Readable.fromWeb>[0]),
    count,
    createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' }),
    ...(options.signal ? [{ signal: options.signal }] : []),
  );
  if (Number.isFinite(total) && bytes !== total) {
    throw new Error(`${remotePath}: received ${bytes} bytes of ${total}; run again to resume`);
  }
  await rename(part, localFile);
  return { path: remotePath, file: localFile, size: bytes, resumedBytes: offset };
}

const TYPES: Record<string, string> = {
  csv: 'text/csv',
  json: 'application/json',
  txt: 'text/plain',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  gz: 'application/gzip',
  zip: 'application/zip',
  tar: 'application/x-tar',
  parquet: 'application/vnd.apache.parquet',
};

function contentTypeOf(path: string): string {
  const extension = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  return TYPES[extension] ?? 'application/octet-stream';
}

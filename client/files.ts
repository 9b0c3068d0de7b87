import { createHash } from 'node:crypto';
import { open, rename, stat } from 'node:fs/promises';
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
  /** Bytes per request; 8 MiB unless given. */
  blockSize?: number;
  /** Requests at once; 6 unless given. */
  concurrency?: number;
  onProgress?: (progress: { bytes: number; totalBytes: number }) => void;
  signal?: AbortSignal;
}

/**
 * Downloads one of your files to `localFile` in ranged requests, several at once, appended in
 * order to `<localFile>.part`: the part file is always the file's first bytes, so a download cut
 * short and run again asks only for what comes after them, and the file gets its own name only
 * once whole.
 */
export async function downloadFile(
  client: CloudJobsClient,
  remotePath: string,
  localFile: string,
  options: FileDownloadOptions = {},
): Promise<{ path: string; file: string; size: number; resumedBytes: number }> {
  const part = `${localFile}.part`;
  const block = options.blockSize ?? 8 * 1024 * 1024;
  const signal = options.signal ? { signal: options.signal } : {};
  const range = async (
    offset: number,
    length: number,
  ): Promise<{ bytes: Buffer; total: number; whole: boolean }> => {
    const response = await client.files.download(remotePath, { offset, length, ...signal });
    const bytes = Buffer.from(await response.arrayBuffer());
    // A whole answer (an empty file has no range to give) is the file from its start.
    if (response.status === 200) return { bytes, total: bytes.length, whole: true };
    const total = Number(/\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1] ?? NaN);
    if (!Number.isFinite(total)) throw new Error(`${remotePath}: the answer to a byte range gave no size`);
    return { bytes, total, whole: false };
  };
  let had = await stat(part).then(
    (s) => s.size,
    () => 0,
  );
  // The first block says how large the file is; a part as long as the file (or longer: it was
  // replaced by a shorter one) has nothing after it, and starts again.
  let first: { bytes: Buffer; total: number; whole: boolean } | undefined;
  if (had > 0) {
    first = await range(had, block).catch((error: unknown) => {
      if (error instanceof CloudJobsError && error.status === 416) return undefined;
      throw error;
    });
    if (!first || first.whole) had = 0;
  }
  first ??= await range(0, block);
  const total = first.total;
  const file = await open(part, had > 0 ? 'a' : 'w');
  let written = had;
  try {
    await file.write(first.bytes);
    written += first.bytes.length;
    options.onProgress?.({ bytes: written, totalBytes: total });
    const inflight: Array<Promise<{ bytes: Buffer }>> = [];
    let next = written;
    while (written < total) {
      while (inflight.length < (options.concurrency ?? 6) && next < total) {
        const request = range(next, Math.min(block, total - next));
        // Awaited in order below; a failure of one further on must not go unhandled meanwhile.
        request.catch(() => undefined);
        inflight.push(request);
        next += Math.min(block, total - next);
      }
      const { bytes } = await inflight.shift()!;
      await file.write(bytes);
      written += bytes.length;
      options.onProgress?.({ bytes: written, totalBytes: total });
    }
  } finally {
    await file.close();
  }
  if (written !== total)
    throw new Error(`${remotePath}: received ${written} bytes of ${total}; run again to resume`);
  await rename(part, localFile);
  return { path: remotePath, file: localFile, size: written, resumedBytes: had };
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

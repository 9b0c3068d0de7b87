import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { ROOT, RuntimeProcess } from '../support/runtimeProcess.js';
import type { Benchmark } from './benchmarks.js';

const seconds = (start: number) => (performance.now() - start) / 1000;

/** Writes `bytes` of random data to `file`, a mebibyte at a time. */
async function randomFile(file: string, bytes: number): Promise<void> {
  const out = createWriteStream(file);
  for (let written = 0; written < bytes; written += 1024 * 1024) {
    if (!out.write(randomBytes(Math.min(1024 * 1024, bytes - written)))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Runs the `cloudjobs` CLI (built, as `npx cloudjobs` runs it) against `url`; answers its seconds. */
async function cli(url: string, args: string[]): Promise<number> {
  const start = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'cli/cloudjobs.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, CLOUDJOBS_URL: url, CLOUDJOBS_CONFIG_DIR: path.join(tmpdir(), 'bench-cli') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`cloudjobs ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`);
  return seconds(start);
}

/**
 * `transfer`: a file (1 GiB unless CLOUDJOBS_BENCH_TRANSFER_MB says) uploaded with
 * `cloudjobs files put` and downloaded with `cloudjobs files get` against the embedded runtime,
 * and the same file moved by `@azure/storage-blob`'s own parallel helpers (`uploadFile`,
 * `downloadToBuffer`, then the disk) through the same blob endpoint, in the same run. `oursOverSdk` is the
 * throughput ratio: the SDK's seconds over ours (1 is as fast; the goal is at least 0.8).
 */
export const transferBenchmark: Benchmark = {
  id: 'transfer',
  description:
    'upload then download 1 GiB through the cloudjobs CLI against the embedded runtime, against @azure/storage-blob uploadFile/downloadToBuffer',
  async run({ freshStorage }) {
    const megabytes = Number(process.env.CLOUDJOBS_BENCH_TRANSFER_MB ?? 1024);
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-transfer-'));
    const runtime = new RuntimeProcess({
      app: ROOT,
      storage: await freshStorage(),
      env: { CLOUDJOBS_LOG_LEVEL: 'warning' },
    });
    await runtime.start();
    try {
      const file = path.join(dir, 'data.bin');
      await randomFile(file, megabytes * 1024 * 1024);
      // The SDK goes through the same endpoint the upload URLs name: the runtime's blob endpoint.
      const blobs = BlobServiceClient.fromConnectionString(runtime.info.connectionString);
      const container = blobs.getContainerClient('bench-sdk');
      await container.createIfNotExists();
      const sdk = container.getBlockBlobClient('data.bin');
      // Warm both paths (sockets, JIT) with a small file, so neither pays for starting.
      const warm = path.join(dir, 'warm.bin');
      await randomFile(warm, 8 * 1024 * 1024);
      await cli(runtime.url, ['files', 'put', warm, 'bench/warm.bin']);
      await container.getBlockBlobClient('warm.bin').uploadFile(warm);

      const oursUpload = await cli(runtime.url, ['files', 'put', file, 'bench/data.bin']);
      let start = performance.now();
      await sdk.uploadFile(file, { blockSize: 8 * 1024 * 1024, concurrency: 8 });
      const sdkUpload = seconds(start);

      const oursDownload = await cli(runtime.url, [
        'files',
        'get',
        'bench/data.bin',
        path.join(dir, 'ours.bin'),
      ]);
      start = performance.now();
      // The SDK's parallel download is to a buffer (downloadToFile is one stream); then the disk.
      const buffer = Buffer.allocUnsafe(megabytes * 1024 * 1024);
      await sdk.downloadToBuffer(buffer, 0, undefined, { blockSize: 8 * 1024 * 1024, concurrency: 8 });
      await writeFile(path.join(dir, 'sdk.bin'), buffer);
      const sdkDownload = seconds(start);
      for (const copy of ['ours.bin', 'sdk.bin']) {
        if ((await stat(path.join(dir, copy))).size !== megabytes * 1024 * 1024)
          throw new Error(`${copy} came back the wrong size`);
      }
      const oursSeconds = oursUpload + oursDownload;
      const sdkSeconds = sdkUpload + sdkDownload;
      return {
        megabytes,
        oursUploadSeconds: oursUpload,
        sdkUploadSeconds: sdkUpload,
        oursDownloadSeconds: oursDownload,
        sdkDownloadSeconds: sdkDownload,
        oursSeconds,
        sdkSeconds,
        oursOverSdk: sdkSeconds / oursSeconds,
      };
    } finally {
      await runtime.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

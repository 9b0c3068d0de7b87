import { Readable } from 'node:stream';
import type { BlobContainer, BlobDownload, BlobItem } from '../../shared/store/blobStore.js';

interface Stored {
  bytes: Buffer;
  contentType: string;
  etag: string;
  lastModified: Date;
}

/** A blob container in memory, for unit tests of the services that keep files. */
export class MemoryBlobContainer implements BlobContainer {
  readonly blobs = new Map<string, Stored>();
  created = false;
  #version = 0;

  constructor(readonly name: string) {}

  createIfNotExists(): Promise<void> {
    this.created = true;
    return Promise.resolve();
  }

  properties(name: string): Promise<{ size: number; etag?: string } | undefined> {
    const blob = this.blobs.get(name);
    return Promise.resolve(blob ? { size: blob.bytes.length, etag: blob.etag } : undefined);
  }

  read(name: string): Promise<Buffer | undefined> {
    return Promise.resolve(this.blobs.get(name)?.bytes);
  }

  async readJson<T>(name: string): Promise<T | undefined> {
    const bytes = await this.read(name);
    return bytes === undefined ? undefined : (JSON.parse(bytes.toString('utf8')) as T);
  }

  write(name: string, body: string | Buffer, contentType: string): Promise<void> {
    this.blobs.set(name, {
      bytes: Buffer.from(body),
      contentType,
      etag: `"${++this.#version}"`,
      lastModified: new Date('2026-12-01T00:00:00Z'),
    });
    return Promise.resolve();
  }

  writeJson(name: string, value: unknown): Promise<void> {
    return this.write(name, JSON.stringify(value), 'application/json');
  }

  exists(name: string): Promise<boolean> {
    return Promise.resolve(this.blobs.has(name));
  }

  hasAny(prefix: string): Promise<boolean> {
    return Promise.resolve([...this.blobs.keys()].some((name) => name.startsWith(prefix)));
  }

  async *list(prefix: string): AsyncIterable<BlobItem> {
    for (const name of [...this.blobs.keys()].sort()) {
      if (!name.startsWith(prefix)) continue;
      const blob = this.blobs.get(name)!;
      yield await Promise.resolve({
        name,
        size: blob.bytes.length,
        contentType: blob.contentType,
        lastModified: blob.lastModified,
      });
    }
  }

  async listPage(
    prefix: string,
    limit: number,
    continuation?: string,
  ): Promise<{ items: BlobItem[]; continuation?: string }> {
    const items: BlobItem[] = [];
    for await (const item of this.list(prefix)) {
      if (continuation !== undefined && item.name <= continuation) continue;
      if (items.length === limit) return { items, continuation: items.at(-1)!.name };
      items.push(item);
    }
    return { items };
  }

  download(name: string, offset = 0, length?: number): Promise<BlobDownload | undefined> {
    const blob = this.blobs.get(name);
    if (!blob) return Promise.resolve(undefined);
    const start = Math.min(offset, blob.bytes.length);
    const bytes = blob.bytes.subarray(start, length === undefined ? undefined : start + length);
    return Promise.resolve({
      stream: Readable.from(bytes.length > 0 ? [bytes] : []),
      contentType: blob.contentType,
      contentLength: bytes.length,
      lastModified: blob.lastModified,
    });
  }

  async copyTo(name: string, target: BlobContainer, targetName: string): Promise<void> {
    const blob = this.blobs.get(name);
    if (!blob) throw Object.assign(new Error(`${this.name}/${name} does not exist`), { statusCode: 404 });
    await target.write(targetName, blob.bytes, blob.contentType);
  }

  delete(name: string): Promise<void> {
    this.blobs.delete(name);
    return Promise.resolve();
  }

  deleteContainer(): Promise<void> {
    this.blobs.clear();
    this.created = false;
    return Promise.resolve();
  }
}

/** Every container of an account in memory, each made on first use. */
export function memoryBlobContainers(): ((name: string) => MemoryBlobContainer) & {
  all: Map<string, MemoryBlobContainer>;
} {
  const all = new Map<string, MemoryBlobContainer>();
  const open = (name: string) => {
    let container = all.get(name);
    if (!container) all.set(name, (container = new MemoryBlobContainer(name)));
    return container;
  };
  return Object.assign(open, { all });
}

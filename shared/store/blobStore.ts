import { forEachLimited } from '../concurrency.js';

/** A blob as a listing shows it. */
export interface BlobItem {
  name: string;
  size: number;
  contentType?: string;
  lastModified: Date;
}

/** A blob's bytes as a stream, and what storage says of them. */
export interface BlobDownload {
  stream: NodeJS.ReadableStream;
  contentType?: string;
  contentLength?: number;
  lastModified?: Date;
}

/**
 * One blob container, as the services use it: JSON documents of their own, files to list and
 * stream, and a server-side copy. Reading what is not there answers `undefined`, not an error.
 * The one implementation on Azure Blob storage is `shared/adapters/azureBlobs.ts`.
 */
export interface BlobContainer {
  readonly name: string;
  createIfNotExists(): Promise<void>;
  /** The blob's size and version (ETag), or undefined if it does not exist. */
  properties(name: string): Promise<{ size: number; etag?: string } | undefined>;
  read(name: string): Promise<Buffer | undefined>;
  readJson<T>(name: string): Promise<T | undefined>;
  write(name: string, body: string | Buffer, contentType: string): Promise<void>;
  writeJson(name: string, value: unknown): Promise<void>;
  exists(name: string): Promise<boolean>;
  /** Whether any blob's name begins with `prefix` (a container that does not exist has none). */
  hasAny(prefix: string): Promise<boolean>;
  list(prefix: string): AsyncIterable<BlobItem>;
  /**
   * One page of the blobs whose names begin with `prefix`, in name order: at most `limit`, and
   * where the next page starts when there is more.
   */
  listPage(
    prefix: string,
    limit: number,
    continuation?: string,
  ): Promise<{ items: BlobItem[]; continuation?: string }>;
  /** The blob's bytes from `offset` (0 unless given), `length` of them or to its end; past the end, none. */
  download(name: string, offset?: number, length?: number): Promise<BlobDownload | undefined>;
  /** Copies a blob to another container, storage to storage, bytes exactly as they are. */
  copyTo(name: string, target: BlobContainer, targetName: string): Promise<void>;
  /** Deletes a blob; one that is already gone is fine. */
  delete(name: string): Promise<void>;
  /** Deletes the container and all in it; one that is already gone is fine. */
  deleteContainer(): Promise<void>;
}

/** Opens a container of the app's storage account by name. */
export type BlobContainers = (name: string) => BlobContainer;

/** Deletes every blob of `container` under `prefix`, sixteen at a time; answers how many. */
export async function deleteUnder(container: BlobContainer, prefix: string): Promise<number> {
  const names: string[] = [];
  for await (const blob of container.list(prefix)) names.push(blob.name);
  await forEachLimited(names, 16, (name) => container.delete(name));
  return names.length;
}

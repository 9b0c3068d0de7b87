import { createWriteStream } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { BlobClient, ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { FailureInfo } from './model.js';

export interface StorageAccessOptions {
  /** The storage account the service can reach without a SAS (what a managed identity would grant). */
  accountName: string;
  accountKey: string;
}

/** A failure while staging files, with the failure info Batch reports for it. */
export class StagingError extends Error {
  constructor(readonly failureInfo: FailureInfo) {
    super(failureInfo.message);
  }
}

function classify(error: unknown, what: 'download' | 'upload', target: string): FailureInfo {
  const status = (error as { statusCode?: number }).statusCode;
  if (what === 'download') {
    if (status === 404)
      return {
        category: 'usererror',
        code: 'BlobNotFound',
        message: `The specified blob does not exist: ${target}`,
      };
    if (status === 403 || status === 401) {
      return { category: 'usererror', code: 'BlobAccessDenied', message: `Access to ${target} was denied` };
    }
    return {
      category: 'usererror',
      code: 'BlobDownloadMiscError',
      message: `Downloading ${target} failed: ${String(error)}`,
    };
  }
  return {
    category: 'usererror',
    code: 'FileUploadMiscError',
    message: `Uploading to ${target} failed: ${String(error)}`,
  };
}

/**
 * Blob access for resource files and output files. A container URL with a SAS is used as given;
 * one without (Batch would use the pool's managed identity) is reached with the local account key.
 */
export class StorageAccess {
  readonly #credential: StorageSharedKeyCredential;
  // A client per container URL, kept: a new client per upload means a new connection per upload,
  // and every task uploads its logs. Jobs share their few container URLs, so this stays small.
  readonly #containers = new Map<string, ContainerClient>();

  constructor(options: StorageAccessOptions) {
    this.#credential = new StorageSharedKeyCredential(options.accountName, options.accountKey);
  }

  container(url: string): ContainerClient {
    let client = this.#containers.get(url);
    if (!client) {
      client = new URL(url).searchParams.has('sig')
        ? new ContainerClient(url)
        : new ContainerClient(url, this.#credential);
      if (this.#containers.size >= 256) this.#containers.delete(this.#containers.keys().next().value!);
      this.#containers.set(url, client);
    }
    return client;
  }

  /** Downloads a blob container's blobs (under a prefix) into `directory`. */
  async downloadContainer(
    containerUrl: string,
    prefix: string | undefined,
    directory: string,
    fileMode?: string,
  ): Promise<void> {
    const container = this.container(containerUrl);
    try {
      for await (const blob of container.listBlobsFlat(prefix ? { prefix } : {})) {
        const target = path.join(directory, ...blob.name.split('/'));
        await mkdir(path.dirname(target), { recursive: true });
        await container.getBlobClient(blob.name).downloadToFile(target);
        if (fileMode) await chmod(target, parseInt(fileMode, 8));
      }
    } catch (error) {
      throw new StagingError(classify(error, 'download', container.url.split('?')[0]!));
    }
  }

  /**
   * Downloads one URL (a blob, or any https URL) to a file. With `identity`, Batch would present
   * the pool identity's token to the blob's storage account; here the local account key stands in.
   */
  async downloadUrl(url: string, file: string, fileMode?: string, identity = false): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    try {
      if (identity && !new URL(url).searchParams.has('sig')) {
        await new BlobClient(url, this.#credential).downloadToFile(file);
        if (fileMode) await chmod(file, parseInt(fileMode, 8));
        return;
      }
      const response = await fetch(url);
      if (!response.ok || !response.body)
        throw Object.assign(new Error(`HTTP ${response.status}`), { statusCode: response.status });
      await pipeline(Readable.fromWeb(response.body as never), createWriteStream(file));
      if (fileMode) await chmod(file, parseInt(fileMode, 8));
    } catch (error) {
      throw new StagingError(classify(error, 'download', url.split('?')[0]!));
    }
  }

  async uploadFile(
    containerUrl: string,
    blobName: string,
    file: string,
    headers: Array<{ name: string; value?: string }> = [],
  ): Promise<void> {
    const container = this.container(containerUrl);
    const contentType = headers.find((h) => h.name.toLowerCase() === 'content-type')?.value;
    try {
      await container.getBlockBlobClient(blobName).uploadFile(file, {
        ...(contentType ? { blobHTTPHeaders: { blobContentType: contentType } } : {}),
      });
    } catch (error) {
      throw new StagingError(classify(error, 'upload', `${container.url.split('?')[0]}/${blobName}`));
    }
  }
}

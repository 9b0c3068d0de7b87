import { Readable } from 'node:stream';
import {
  BlobSASPermissions,
  StorageSharedKeyCredential,
  type BlobClient,
  type BlobServiceClient,
  type ContainerClient,
} from '@azure/storage-blob';
import type { BlobContainer, BlobContainers, BlobDownload, BlobItem } from '../store/blobStore.js';
import { SAS_VERSION } from './sasLocations.js';

const isMissing = (error: unknown) => (error as { statusCode?: number }).statusCode === 404;

/** A container of the app's storage account on Azure Blob storage (or Azurite). */
export class AzureBlobContainer implements BlobContainer {
  readonly #client: ContainerClient;

  constructor(
    private readonly service: BlobServiceClient,
    readonly name: string,
  ) {
    this.#client = service.getContainerClient(name);
  }

  async createIfNotExists(): Promise<void> {
    await this.#client.createIfNotExists();
  }

  async properties(name: string): Promise<{ size: number; etag?: string } | undefined> {
    try {
      const properties = await this.#client.getBlobClient(name).getProperties();
      return { size: properties.contentLength ?? 0, ...(properties.etag ? { etag: properties.etag } : {}) };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async read(name: string): Promise<Buffer | undefined> {
    try {
      return await this.#client.getBlobClient(name).downloadToBuffer();
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async readJson<T>(name: string): Promise<T | undefined> {
    const buffer = await this.read(name);
    return buffer === undefined ? undefined : (JSON.parse(buffer.toString('utf8')) as T);
  }

  async write(name: string, body: string | Buffer, contentType: string): Promise<void> {
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    await this.#client.getBlockBlobClient(name).upload(body, length, {
      blobHTTPHeaders: { blobContentType: contentType },
    });
  }

  writeJson(name: string, value: unknown): Promise<void> {
    return this.write(name, JSON.stringify(value), 'application/json');
  }

  exists(name: string): Promise<boolean> {
    return this.#client.getBlobClient(name).exists();
  }

  async hasAny(prefix: string): Promise<boolean> {
    try {
      const page = await this.#client.listBlobsFlat({ prefix }).byPage({ maxPageSize: 1 }).next();
      return !page.done && page.value.segment.blobItems.length > 0;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<BlobItem> {
    try {
      for await (const blob of this.#client.listBlobsFlat({ prefix })) {
        yield {
          name: blob.name,
          size: blob.properties.contentLength ?? 0,
          ...(blob.properties.contentType ? { contentType: blob.properties.contentType } : {}),
          lastModified: blob.properties.lastModified,
        };
      }
    } catch (error) {
      // A container that does not exist (yet, or any more) holds nothing.
      if (!isMissing(error)) throw error;
    }
  }

  async deleteContainer(): Promise<void> {
    await this.#client.deleteIfExists();
  }

  async listPage(
    prefix: string,
    limit: number,
    continuation?: string,
  ): Promise<{ items: BlobItem[]; continuation?: string }> {
    const pages = this.#client
      .listBlobsFlat({ prefix })
      .byPage({ maxPageSize: limit, ...(continuation ? { continuationToken: continuation } : {}) });
    let page;
    try {
      page = await pages.next();
    } catch (error) {
      if (isMissing(error)) return { items: [] };
      throw error;
    }
    if (page.done) return { items: [] };
    return {
      items: page.value.segment.blobItems.map((blob) => ({
        name: blob.name,
        size: blob.properties.contentLength ?? 0,
        ...(blob.properties.contentType ? { contentType: blob.properties.contentType } : {}),
        lastModified: blob.properties.lastModified,
      })),
      ...(page.value.continuationToken ? { continuation: page.value.continuationToken } : {}),
    };
  }

  async download(name: string, offset = 0, length?: number): Promise<BlobDownload | undefined> {
    try {
      if (offset > 0) {
        // Storage refuses a range that starts at or past the end (416): that is simply nothing left.
        const size = (await this.properties(name))?.size;
        if (size === undefined) return undefined;
        if (offset >= size) return { stream: Readable.from([]), contentLength: 0 };
      }
      const download = await this.#client.getBlobClient(name).download(offset, length);
      if (!download.readableStreamBody) return undefined;
      return {
        stream: download.readableStreamBody,
        ...(download.contentType ? { contentType: download.contentType } : {}),
        ...(download.contentLength !== undefined ? { contentLength: download.contentLength } : {}),
        ...(download.lastModified ? { lastModified: download.lastModified } : {}),
      };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async copyTo(name: string, target: BlobContainer, targetName: string): Promise<void> {
    if (!(target instanceof AzureBlobContainer)) {
      throw new Error(`a copy goes between containers of one storage account, not to ${target.name}`);
    }
    const source = await this.#readableUrl(this.#client.getBlobClient(name));
    await target.#client.getBlobClient(targetName).syncCopyFromURL(source);
  }

  async delete(name: string): Promise<void> {
    await this.#client.getBlobClient(name).deleteIfExists();
  }

  /**
   * A URL the storage service can copy from: a copy's source is authorized by its URL alone, so it
   * carries a short read-only SAS, signed with the account key when there is one, else with a user
   * delegation key from the app's identity (an account that takes no shared key has no other way).
   */
  async #readableUrl(blob: BlobClient): Promise<string> {
    const startsOn = new Date(Date.now() - 5 * 60_000);
    const expiresOn = new Date(Date.now() + 10 * 60_000);
    const options = { permissions: BlobSASPermissions.parse('r'), startsOn, expiresOn, version: SAS_VERSION };
    if (blob.credential instanceof StorageSharedKeyCredential) return blob.generateSasUrl(options);
    return blob.generateUserDelegationSasUrl(
      options,
      await this.service.getUserDelegationKey(startsOn, expiresOn),
    );
  }
}

/** The containers of one storage account, each opened once. */
export function azureBlobContainers(service: BlobServiceClient): BlobContainers {
  const opened = new Map<string, AzureBlobContainer>();
  return (name) => {
    let container = opened.get(name);
    if (!container) opened.set(name, (container = new AzureBlobContainer(service, name)));
    return container;
  };
}

import {
  BlobSASPermissions,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
  type BlobServiceClient,
  type UserDelegationKey,
} from '@azure/storage-blob';
import type { DataLocations } from '../domain/batchPlan.js';

/**
 * The storage service version our SAS tokens are signed for. Pinned, so an SDK upgrade cannot
 * change what Batch and uploaders are handed: Azure accepts it, and so does Azurite, which does
 * not yet know the string-to-sign of the SDK's newer default (2026-04-06) for user delegation SAS.
 */
export const SAS_VERSION = '2025-07-05';

/**
 * Storage URLs for Batch that carry their own access: container URLs that may read, add, create,
 * write and list (resource files are listed and read, outputs and logs written), blob URLs that
 * may only read. Signed with the account key when the connection string has one, else with a
 * user delegation key from the app's identity, fetched once per lifetime.
 */
export class SasLocations implements DataLocations {
  private constructor(
    private readonly blobs: BlobServiceClient,
    private readonly startsOn: Date,
    private readonly expiresOn: Date,
    private readonly delegation: UserDelegationKey | undefined,
  ) {}

  /** URLs valid until `expiresOn` (a job's lifetime, with room for retries). */
  static async create(blobs: BlobServiceClient, expiresOn: Date): Promise<SasLocations> {
    // A little in the past: clocks of the nodes that use the URLs are not exactly ours.
    const startsOn = new Date(Date.now() - 5 * 60_000);
    const delegation =
      blobs.credential instanceof StorageSharedKeyCredential
        ? undefined
        : await blobs.getUserDelegationKey(startsOn, expiresOn);
    return new SasLocations(blobs, startsOn, expiresOn, delegation);
  }

  containerUrl(container: string): string {
    const query = this.#sign({
      containerName: container,
      permissions: ContainerSASPermissions.parse('racwl'),
    });
    return `${this.blobs.getContainerClient(container).url}?${query}`;
  }

  blobUrl(container: string, name: string): string {
    const query = this.#sign({
      containerName: container,
      blobName: name,
      permissions: BlobSASPermissions.parse('r'),
    });
    return `${this.blobs.getContainerClient(container).getBlobClient(name).url}?${query}`;
  }

  #sign(options: {
    containerName: string;
    blobName?: string;
    permissions: ContainerSASPermissions | BlobSASPermissions;
  }): string {
    const values = {
      ...options,
      version: SAS_VERSION,
      startsOn: this.startsOn,
      expiresOn: this.expiresOn,
      ...(this.blobs.url.startsWith('https:') ? { protocol: SASProtocol.Https } : {}),
    };
    const credential = this.blobs.credential;
    return (
      this.delegation
        ? generateBlobSASQueryParameters(values, this.delegation, this.blobs.accountName)
        : generateBlobSASQueryParameters(values, credential as StorageSharedKeyCredential)
    ).toString();
  }
}

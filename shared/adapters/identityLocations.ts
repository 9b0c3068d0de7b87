import type { BlobServiceClient } from '@azure/storage-blob';
import type { DataLocations } from '../domain/batchPlan.js';

/**
 * Storage URLs for Batch that carry no SAS: Batch reaches them with a user-assigned managed
 * identity of the pool (`identityReference`), which must be assigned to every pool and hold
 * Storage Blob Data roles on the containers. Every task on such a node can ask for that
 * identity's tokens, so its roles are the whole boundary; per-job SAS URLs (`SasLocations`)
 * give each job only its own files.
 */
export class IdentityLocations implements DataLocations {
  constructor(
    private readonly blobs: BlobServiceClient,
    /** Resource id of the pools' user-assigned identity. */
    readonly identity: string,
  ) {}

  containerUrl(container: string): string {
    return this.blobs.getContainerClient(container).url;
  }

  blobUrl(container: string, name: string): string {
    return this.blobs.getContainerClient(container).getBlobClient(name).url;
  }
}

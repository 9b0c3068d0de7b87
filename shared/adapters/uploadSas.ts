import type { BlobServiceClient } from '@azure/storage-blob';
import { SAS_VERSION } from './sasLocations.js';
import type { UploadSigner, UploadUrl } from '../jobs/inboxApi.js';
import {
  BlobSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';

/**
 * Signs upload URLs for one container (the blob inbox, users' own files). A container SAS cannot be
 * limited to a prefix, so each URL is a blob SAS for one name under the caller's folder, with create
 * and write (and, where resuming needs the uncommitted block list, read of that one blob): it can
 * neither list nor reach another user's folder. Signed with the account key when the connection
 * string has one, else with a user delegation key from the app's identity.
 */
export class UploadUrlSigner implements UploadSigner {
  constructor(
    private readonly blobs: BlobServiceClient,
    private readonly container: string,
    private readonly permissions: 'cw' | 'rcw' = 'cw',
  ) {}

  async uploadUrl(blobName: string, expiresOn: Date): Promise<UploadUrl> {
    const startsOn = new Date(Date.now() - 5 * 60_000);
    const options = {
      containerName: this.container,
      blobName,
      permissions: BlobSASPermissions.parse(this.permissions),
      version: SAS_VERSION,
      startsOn,
      expiresOn,
      ...(this.blobs.url.startsWith('https:') ? { protocol: SASProtocol.Https } : {}),
    };
    const credential = this.blobs.credential;
    const query =
      credential instanceof StorageSharedKeyCredential
        ? generateBlobSASQueryParameters(options, credential)
        : generateBlobSASQueryParameters(
            options,
            await this.blobs.getUserDelegationKey(startsOn, expiresOn),
            this.blobs.accountName,
          );
    const blob = this.blobs.getContainerClient(this.container).getBlockBlobClient(blobName);
    await this.blobs.getContainerClient(this.container).createIfNotExists();
    return {
      url: `${blob.url}?${query.toString()}`,
      container: this.container,
      blobName,
      expiresOn: expiresOn.toISOString(),
    };
  }
}

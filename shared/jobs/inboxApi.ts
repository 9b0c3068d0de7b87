import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Caller } from '../identity.js';
import { parseInput } from '../domain/issues.js';

/** Query of `GET /inbox/upload-url`. */
export const uploadUrlQuerySchema = z.strictObject({
  file: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.(json|ya?ml)$/,
      'must be a file name ending in .json, .yaml or .yml',
    )
    .optional()
    .describe('the manifest’s name under your inbox folder; a fresh one by default'),
});

/** A URL a client may PUT one blob to, and nothing else. */
export interface UploadUrl {
  url: string;
  container: string;
  blobName: string;
  expiresOn: string;
}

/** Signs upload URLs for one blob of the inbox, valid until `expiresOn`. */
export interface UploadSigner {
  uploadUrl(blobName: string, expiresOn: Date): Promise<UploadUrl>;
}

/** Upload URLs for the blob inbox: a manifest put there starts a job owned by the caller. */
export class InboxApi {
  constructor(
    private readonly signer: UploadSigner,
    private readonly lifetimeMinutes: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  uploadUrl(
    caller: Caller,
    query: unknown,
  ): Promise<UploadUrl & { method: 'PUT'; headers: Record<string, string> }> {
    const { file } = parseInput(uploadUrlQuerySchema, query);
    const blobName = `${caller.owner}/${file ?? `${randomUUID()}.json`}`;
    const expiresOn = new Date(this.now().getTime() + this.lifetimeMinutes * 60_000);
    return this.signer
      .uploadUrl(blobName, expiresOn)
      .then((url) => ({ ...url, method: 'PUT' as const, headers: { 'x-ms-blob-type': 'BlockBlob' } }));
  }
}

import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { InboxSigner, UploadUrl } from '../adapters/inboxSas.js';
import type { Caller } from '../identity.js';
import { parseInput } from './jobsApi.js';

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

/** Upload URLs for the blob inbox: a manifest put there starts a job owned by the caller. */
export class InboxApi {
  constructor(
    private readonly signer: Pick<InboxSigner, 'uploadUrl'>,
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

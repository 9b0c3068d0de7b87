import { randomUUID } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import { jobLayout } from '../domain/jobLayout.js';
import type { JobSpec } from '../domain/jobSpec.js';
import { joinJson, MAX_INLINE_JSON, splitJson } from './tables.js';

/**
 * The properties that hold a job's spec in its row: the JSON itself in chunks, or, past what a
 * row holds, the name of a blob it was written to. A spec rewritten later (tasks added) goes to a
 * blob of a new name, so a writer that loses the race for the row overwrites nothing of the winner's.
 */
export async function specProperties(
  specs: ContainerClient,
  id: string,
  spec: JobSpec,
  rewrite = false,
): Promise<Record<string, string>> {
  const text = JSON.stringify(spec);
  if (text.length <= MAX_INLINE_JSON) return splitJson(spec, 'Spec');
  const name = rewrite ? `${jobLayout.job(id)}spec-${randomUUID()}.json` : jobLayout.spec(id);
  await specs
    .getBlockBlobClient(name)
    .upload(text, Buffer.byteLength(text), { blobHTTPHeaders: { blobContentType: 'application/json' } });
  return { SpecBlob: name };
}

/** The spec a job row holds, or points to. */
export async function readSpec(specs: ContainerClient, entity: Record<string, unknown>): Promise<JobSpec> {
  if (typeof entity.SpecBlob === 'string') {
    const buffer = await specs.getBlobClient(entity.SpecBlob).downloadToBuffer();
    return JSON.parse(buffer.toString('utf8')) as JobSpec;
  }
  return joinJson<JobSpec>(entity, 'Spec')!;
}

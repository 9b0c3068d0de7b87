import { z } from 'zod';

const SUBJECT = /^\/blobServices\/default\/containers\/([^/]+)\/blobs\/(.+)$/;

/**
 * A `Microsoft.Storage.BlobCreated` event in the Event Grid schema, as far as cloudjobs reads it.
 * Event Grid may add fields, so unknown ones pass; the ones read are checked.
 */
export const blobCreatedEventSchema = z.looseObject({
  id: z.string().min(1),
  eventType: z.literal('Microsoft.Storage.BlobCreated'),
  subject: z.string().regex(SUBJECT, 'must be /blobServices/default/containers/<container>/blobs/<name>'),
  eventTime: z.string().min(1),
  data: z.looseObject({
    url: z.string().min(1),
    eTag: z.string().optional(),
    contentLength: z.number().int().min(0).optional(),
  }),
});

/** See {@link blobCreatedEventSchema}. */
export type BlobCreatedEvent = z.infer<typeof blobCreatedEventSchema>;

/** The container and blob name an event's subject names. */
export function blobOfSubject(subject: string): { container: string; name: string } | undefined {
  const match = SUBJECT.exec(subject);
  return match ? { container: match[1]!, name: match[2]! } : undefined;
}

/**
 * The task a log blob belongs to: logs are `<jobId>/<folder...>/<taskId>/stdout.txt` (or
 * stderr.txt), so the job is the first segment and the task the one before the file name.
 */
export function taskOfLogBlob(name: string): { jobId: string; taskId: string } | undefined {
  const parts = name.split('/');
  if (parts.length < 4) return undefined;
  const file = parts.at(-1);
  if (file !== 'stdout.txt' && file !== 'stderr.txt') return undefined;
  const jobId = parts[0]!;
  const taskId = parts.at(-2)!;
  if (!jobId || !taskId) return undefined;
  return { jobId, taskId };
}

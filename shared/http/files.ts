import type { HttpResponseInit } from '@azure/functions';
import { taskLogQuerySchema, type FileBody } from '../jobs/jobFiles.js';
import { parseInput } from '../domain/issues.js';
import { queryObject, type ApiCall } from './endpoint.js';

/** A file answer: streamed from storage, never cached by intermediaries (it is per caller). */
export function fileResponse(file: FileBody, disposition?: string): HttpResponseInit {
  return {
    status: 200,
    body: file.stream as unknown as AsyncIterable<Uint8Array>,
    headers: {
      'Content-Type': file.contentType,
      'Cache-Control': 'private, no-store',
      'X-Content-Type-Options': 'nosniff',
      ...(file.contentLength !== undefined ? { 'Content-Length': String(file.contentLength) } : {}),
      ...(file.lastModified ? { 'Last-Modified': file.lastModified.toUTCString() } : {}),
      ...(disposition ? { 'Content-Disposition': disposition } : {}),
    },
  };
}

/**
 * A Server-Sent Events answer. Proxies must not buffer it (`X-Accel-Buffering`, `no-transform`),
 * or events would arrive in lumps long after they happened.
 */
export function eventStreamResponse(events: AsyncIterable<string>): HttpResponseInit {
  async function* bytes(): AsyncGenerator<Uint8Array> {
    for await (const text of events) yield Buffer.from(text, 'utf8');
  }
  return {
    status: 200,
    body: bytes(),
    headers: {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store, no-transform',
      'X-Accel-Buffering': 'no',
      'X-Content-Type-Options': 'nosniff',
    },
  };
}

/**
 * The one byte range a `Range` header asks for (`bytes=N-` or `bytes=N-M`), or undefined for none
 * or one this API does not serve (several ranges, suffix ranges, other units): those get the
 * whole file, as HTTP allows.
 */
export function requestedRange(header: string | null): { offset: number; length?: number } | undefined {
  const match = header ? /^bytes=(\d+)-(\d*)$/.exec(header.trim()) : null;
  if (!match) return undefined;
  const offset = Number(match[1]);
  if (match[2] === '') return { offset };
  const end = Number(match[2]);
  return end < offset ? undefined : { offset, length: end - offset + 1 };
}

/** A file answer for a byte range of a file of `size` bytes: 206 with its `Content-Range`. */
export function partialFileResponse(
  file: FileBody,
  range: { offset: number },
  size: number,
  disposition?: string,
): HttpResponseInit {
  const whole = fileResponse(file, disposition);
  const length = file.contentLength ?? size - range.offset;
  return {
    ...whole,
    status: 206,
    headers: {
      ...(whole.headers as Record<string, string>),
      'Content-Range': `bytes ${range.offset}-${range.offset + length - 1}/${size}`,
    },
  };
}

/**
 * A task log answer (the latest attempt's, or `attempt`'s): its text streamed, or 204 when a
 * follow has nothing left (the task has ended and the reader has its whole log).
 */
export async function taskLogResponse(
  { request, caller, services }: ApiCall,
  attempt?: number,
): Promise<HttpResponseInit> {
  const { id, taskId, stream } = request.params;
  const query = parseInput(taskLogQuerySchema, queryObject(request));
  const file = await services.files.log(caller, id!, taskId!, stream === 'stderr' ? 'stderr' : 'stdout', {
    follow: query.follow === 'true',
    ...(query.offset !== undefined ? { offset: query.offset } : {}),
    ...(attempt !== undefined ? { attempt } : {}),
  });
  if (!file) return { status: 204, headers: { 'Cache-Control': 'no-store' } };
  return fileResponse(file);
}

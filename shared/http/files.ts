import type { HttpResponseInit } from '@azure/functions';
import type { FileBody } from '../jobs/jobFiles.js';

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

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

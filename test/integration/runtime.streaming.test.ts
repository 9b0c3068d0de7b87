import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { rawUpload } from '../support/rawUpload.js';
import { ROOT, useRuntime } from '../support/runtimeProcess.js';

const APP = path.join(ROOT, 'test/integration/fixtures/streaming');
const LIMIT = 4 * 1024 * 1024;

describe('embedded runtime: HTTP streaming (app.setup({ enableHttpStream: true }))', () => {
  const runtime = useRuntime({
    app: APP,
    storage: inject('azurite'),
    env: { FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: String(LIMIT) },
  });

  it('should stream a request body to the function and its response back, with params, query, headers and cookies', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 9);
    const response = await runtime.fetch('/api/digest/report?q=yes', {
      method: 'POST',
      body,
      headers: { 'x-test': 'hi' },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('x-name')).toBe('report');
    expect(response.headers.get('x-query')).toBe('yes');
    expect(response.headers.get('x-header')).toBe('hi');
    expect(response.headers.get('set-cookie')).toMatch(/^seen=1; Path=\//);
    expect(await response.json()).toEqual({
      bytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
    });
  });

  it('should deliver the first part of a response before the function has produced the rest', async () => {
    const response = await runtime.fetch('/api/ticker');
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value).toString()).toBe('first line\n');
    // Only now, with the first line in hand, let the function finish.
    await runtime.fetch('/api/ticker/release', { method: 'POST' });
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      rest += Buffer.from(chunk.value).toString();
    expect(rest).toBe('second line\n');
  });

  it('should answer 500 when a streaming function throws', async () => {
    const response = await runtime.fetch('/api/fails');
    expect(response.status).toBe(500);
  });

  it('should refuse a body over the limit with 413', async () => {
    const response = await runtime.fetch('/api/digest/big', {
      method: 'POST',
      body: Buffer.alloc(LIMIT + 1),
    });
    expect(response.status).toBe(413);
  });

  it('should let a client still sending a body over the limit finish, then answer 413', async () => {
    const bytes = LIMIT + 8 * 1024 * 1024;
    const result = await rawUpload(runtime.url, { method: 'POST', path: '/api/digest/big', bytes });
    expect(result).toEqual({ status: 413, error: undefined, written: bytes });
  });
});

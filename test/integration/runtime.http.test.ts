import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { createHash } from 'node:crypto';
import { rawUpload } from '../support/rawUpload.js';
import { ROOT, useRuntime } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';

const APP = path.join(ROOT, 'test/integration/fixtures/conformance');
const LIMIT = 256 * 1024;

describe('embedded runtime: HTTP triggers', () => {
  const runtime = useRuntime({
    app: APP,
    storage: inject('azurite'),
    env: { FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: String(LIMIT) },
  });

  it('should bind route parameters with constraints, the query and headers', async () => {
    const response = await runtime.fetch('/api/items/17/summary?a=1&b=two&a=3', {
      headers: { 'x-test': 'hello' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    expect(await response.json()).toEqual({
      id: 17,
      detail: 'summary',
      query: { a: '1,3', b: 'two' },
      header: 'hello',
      method: 'GET',
      function: 'getItem',
    });
  });

  it('should treat an optional parameter as optional', async () => {
    const body = await runtime.json<{ id: number; detail: string | null }>('/api/items/5');
    expect(body).toMatchObject({ id: 5, detail: null });
  });

  it.each([
    ['a route constraint that does not match', '/api/items/abc'],
    ['an unknown route', '/api/nothing/here'],
    ['a path outside the route prefix', '/items/5'],
  ])('should answer 404 for %s', async (_case, url) => {
    const response = await runtime.fetch(url);
    expect(response.status).toBe(404);
  });

  it('should answer 405 with Allow for a method the route does not take', async () => {
    const response = await runtime.fetch('/api/items/5', { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET');
  });

  it('should give a route that names no methods the library default, GET and POST', async () => {
    for (const method of ['GET', 'POST']) {
      const body = await runtime.json<{ method: string }>('/api/anything', { method });
      expect(body.method).toBe(method);
    }
    const response = await runtime.fetch('/api/anything', { method: 'PATCH' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, POST');
  });

  it('should pass JSON in and return status, headers, cookies and JSON out', async () => {
    const response = await runtime.fetch('/api/items', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'widget', tags: ['a', 'b'] }),
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe('/api/items/42');
    expect(response.headers.get('x-echo')).toBe('yes');
    expect(response.headers.get('set-cookie')).toMatch(/^session=abc; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(await response.json()).toEqual({ received: { name: 'widget', tags: ['a', 'b'] } });
  });

  it('should let the function see malformed JSON as its own 400', async () => {
    const response = await runtime.fetch('/api/items', { method: 'POST', body: '{"name": ' });
    expect(response.status).toBe(400);
  });

  it('should carry binary bodies both ways and catch-all paths', async () => {
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 256));
    const response = await runtime.fetch('/api/raw/a/b%20c/d.bin', { method: 'PUT', body: bytes });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-length')).toBe(String(bytes.length));
    expect(response.headers.get('x-path')).toBe('a/b c/d.bin');
    const digest = Buffer.from(await response.arrayBuffer());
    expect(digest.equals(createHash('sha256').update(bytes).digest())).toBe(true);
  });

  it('should return text bodies with the status the function set', async () => {
    const response = await runtime.fetch('/api/text');
    expect(response.status).toBe(203);
    expect(await response.text()).toBe('plain text ✓');
  });

  it('should let a client still sending a body over the limit finish, then answer 413', async () => {
    const bytes = LIMIT + 8 * 1024 * 1024;
    const result = await rawUpload(runtime.url, { method: 'PUT', path: '/api/raw/big', bytes });
    expect(result).toEqual({ status: 413, error: undefined, written: bytes });
  });

  it('should refuse a body over the size limit with 413 without calling the function', async () => {
    const response = await runtime.fetch('/api/raw/big', { method: 'PUT', body: Buffer.alloc(LIMIT + 1) });
    expect(response.status).toBe(413);
    const fits = await runtime.fetch('/api/raw/big', { method: 'PUT', body: Buffer.alloc(LIMIT) });
    expect(fits.status).toBe(200);
  });

  it('should answer 500 and log the invocation when a function throws', async () => {
    const response = await runtime.fetch('/api/throws');
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('');
    // The log line is written after the response; wait for it rather than race it.
    await waitFor(
      () =>
        /\[throws [0-9a-f]{8}\] Executed \(Failed.*deliberate failure/.test(runtime.output)
          ? true
          : undefined,
      {
        what: 'the failure to be logged with its invocation id',
      },
    );
  });
});

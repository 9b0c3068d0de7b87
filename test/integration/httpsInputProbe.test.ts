import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpsInputProbe } from '../../shared/adapters/httpsInputProbe.js';

// A real HTTPS server with a certificate of the test's own, answering as object stores do.
describe('checking https inputs before a job runs', () => {
  let server: Server;
  let base = '';
  let ca = '';
  const seen: string[] = [];
  beforeAll(async () => {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keySize: 2048,
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] }],
    });
    ca = pems.cert;
    server = createServer({ key: pems.private, cert: pems.cert }, (request, response) => {
      seen.push(`${request.method} ${request.url} ${request.headers.range ?? ''}`.trim());
      switch (request.url) {
        case '/data.csv':
          response
            .writeHead(200, { 'content-length': '4' })
            .end(request.method === 'HEAD' ? undefined : 'a,b\n');
          return;
        case '/signed.bin?sig=secret':
          // Like a store that signs per method: HEAD is refused, a ranged GET is not.
          if (request.method === 'HEAD') response.writeHead(403).end();
          else response.writeHead(206, { 'content-range': 'bytes 0-0/10' }).end('x');
          return;
        case '/moved':
          response.writeHead(302, { location: '/data.csv' }).end();
          return;
        case '/inside':
          response.writeHead(302, { location: 'https://10.1.2.3/secret' }).end();
          return;
        case '/loop':
          response.writeHead(302, { location: '/loop' }).end();
          return;
        case '/hang':
          return; // never answers
        default:
          response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://localhost:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const probe = (allowLoopback = true, timeoutMs = 2000) =>
    new HttpsInputProbe({ policy: { allowLoopback }, timeoutMs, ca });

  it('should pass a file that is there, by HEAD, or by a one-byte GET where HEAD is refused', async () => {
    const check = probe();
    expect(await check.problem(`${base}/data.csv`)).toBeUndefined();
    expect(await check.problem(`${base}/signed.bin?sig=secret`)).toBeUndefined();
    expect(seen).toContain('GET /signed.bin?sig=secret bytes=0-0');
    expect(await check.problem(`${base}/moved`)).toBeUndefined();
    await check.close();
  });

  it('should name what is wrong: missing, a redirect loop, no answer', async () => {
    const check = probe(true, 500);
    expect(await check.problem(`${base}/gone.csv`)).toBe('does not exist (HTTP 404)');
    expect(await check.problem(`${base}/loop`)).toBe('redirects more than 5 times');
    expect(await check.problem(`${base}/hang`)).toBe('cannot be fetched: no answer within 500 ms');
    await check.close();
  });

  it('should go nowhere a webhook may not: private, metadata and loopback addresses, by name or by redirect', async () => {
    const check = probe(false);
    expect(await check.problem(`${base}/data.csv`)).toMatch(/is refused: localhost is a loopback name/);
    expect(await check.problem('https://169.254.169.254/metadata')).toMatch(/cloud metadata/);
    expect(await check.problem('https://[::ffff:10.0.0.1]/x')).toMatch(/10\.0\.0\.1 is a private address/);
    const lenient = probe(true);
    expect(await lenient.problem(`${base}/inside`)).toBe(
      'redirects to https://10.1.2.3/secret, which is refused: 10.1.2.3 is a private address',
    );
    await Promise.all([check.close(), lenient.close()]);
  });
});

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { UndiciWebhookSender, type Resolver } from '../../shared/adapters/webhookSender.js';
import { signWebhook, verifyWebhook, type WebhookPolicy } from '../../shared/domain/webhooks.js';
import type { WebhookRequest } from '../../shared/notifications/senders.js';

const SECRET = 'whsec_' + Buffer.alloc(32, 7).toString('base64');

/** What a receiver saw of one request. */
interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A local HTTP endpoint that records every connection and request and answers with `handler`. */
interface Receiver {
  port: number;
  url: (path?: string) => string;
  requests: Received[];
  connections: number;
}

const receivers: ReturnType<typeof createServer>[] = [];
const senders: UndiciWebhookSender[] = [];

afterAll(async () => {
  for (const sender of senders) await sender.close();
  for (const server of receivers) {
    server.closeAllConnections();
    server.close();
    if (server.listening) await once(server, 'close');
  }
});

async function receiver(
  handler: (request: IncomingMessage, response: ServerResponse) => void = (_, response) =>
    response.writeHead(204).end(),
): Promise<Receiver> {
  const state: Receiver = { port: 0, url: () => '', requests: [], connections: 0 };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      state.requests.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks),
      });
      handler(request, response);
    });
  });
  server.on('connection', () => state.connections++);
  receivers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.port = (server.address() as AddressInfo).port;
  state.url = (path = '/hook') => `http://127.0.0.1:${state.port}${path}`;
  return state;
}

/** A resolver that knows only the names it is given, and remembers what it was asked. */
function fakeResolver(answers: Record<string, string[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = (hostname: string): Promise<LookupAddress[]> => {
    asked.push(hostname);
    const addresses = answers[hostname];
    if (!addresses) {
      return Promise.reject(
        Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }),
      );
    }
    return Promise.resolve(addresses.map((address) => ({ address, family: isIP(address) })));
  };
  return Object.assign(resolve, { asked });
}

function sender(
  policy: Partial<WebhookPolicy> = {},
  options: { timeoutMs?: number; resolve?: Resolver } = {},
): UndiciWebhookSender {
  const created = new UndiciWebhookSender({
    policy: { allowHttp: true, allowLoopback: true, ...policy },
    timeoutMs: options.timeoutMs ?? 5_000,
    ...(options.resolve ? { resolve: options.resolve } : {}),
  });
  senders.push(created);
  return created;
}

function webhook(url: string, body = '{"type":"job.finished","data":{"id":"job-1","name":"café ✓"}}') {
  const id = `msg_${randomBytes(8).toString('hex')}`;
  const timestamp = Math.floor(Date.now() / 1000);
  return {
    url,
    id,
    timestamp,
    body,
    contentType: 'application/json',
    signature: signWebhook(SECRET, { id, timestamp, body }),
  } satisfies WebhookRequest;
}

describe('webhook sender (undici)', () => {
  it('should POST the exact body with the Standard Webhooks headers and report a 2xx as delivered', async () => {
    const endpoint = await receiver((_, response) => response.writeHead(200).end('ok'));
    const request = webhook(endpoint.url('/hooks/in?x=1'));
    const result = await sender().post(request);
    expect(result).toMatchObject({ outcome: 'delivered', statusCode: 200 });
    expect(result.error).toBeUndefined();
    expect(endpoint.requests).toHaveLength(1);
    const [received] = endpoint.requests;
    expect(received!.method).toBe('POST');
    expect(received!.url).toBe('/hooks/in?x=1');
    expect(received!.body.equals(Buffer.from(request.body, 'utf8'))).toBe(true);
    expect(received!.headers).toMatchObject({
      'content-type': 'application/json',
      'webhook-id': request.id,
      'webhook-timestamp': String(request.timestamp),
      'webhook-signature': request.signature,
    });
    // What arrived is what a receiver can verify.
    expect(
      verifyWebhook(
        SECRET,
        {
          id: received!.headers['webhook-id'] as string,
          timestamp: Number(received!.headers['webhook-timestamp']),
          body: received!.body.toString('utf8'),
        },
        received!.headers['webhook-signature'] as string,
        Math.floor(Date.now() / 1000),
      ),
    ).toBe(true);
  });

  it('should report any 2xx as delivered with its status code', async () => {
    const endpoint = await receiver((_, response) => response.writeHead(202).end());
    expect(await sender().post(webhook(endpoint.url()))).toMatchObject({
      outcome: 'delivered',
      statusCode: 202,
    });
  });

  it('should report a 500 as failed, and a 410 as gone, with the status code', async () => {
    const failing = await receiver((_, response) => response.writeHead(500).end('boom'));
    const gone = await receiver((_, response) => response.writeHead(410).end());
    const webhooks = sender();
    expect(await webhooks.post(webhook(failing.url()))).toMatchObject({ outcome: 'failed', statusCode: 500 });
    expect(await webhooks.post(webhook(gone.url()))).toMatchObject({ outcome: 'gone', statusCode: 410 });
    expect(failing.requests).toHaveLength(1);
    expect(gone.requests).toHaveLength(1);
  });

  it('should not follow a redirect', async () => {
    const target = await receiver((_, response) => response.writeHead(200).end());
    const redirecting = await receiver((_, response) =>
      response.writeHead(302, { location: target.url('/elsewhere') }).end(),
    );
    const result = await sender().post(webhook(redirecting.url()));
    expect(result).toMatchObject({ outcome: 'failed', statusCode: 302 });
    expect(result.error).toMatch(/redirect/i);
    expect(redirecting.requests).toHaveLength(1);
    expect(target.requests).toHaveLength(0);
    expect(target.connections).toBe(0);
  });

  it('should give up on a receiver that never answers within about the timeout', async () => {
    const silent = await receiver(() => {
      // Never answers: the sender's timeout has to end the attempt.
    });
    const timeoutMs = 700;
    const started = performance.now();
    const result = await sender({}, { timeoutMs }).post(webhook(silent.url()));
    const elapsed = performance.now() - started;
    expect(result.outcome).toBe('failed');
    expect(result.statusCode).toBeUndefined();
    expect(result.error).toMatch(/timeout|timed out|no answer within 700 ms/i);
    expect(silent.requests).toHaveLength(1);
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 50);
    expect(elapsed).toBeLessThan(timeoutMs + 2_000);
    expect(result.durationMs).toBeGreaterThanOrEqual(timeoutMs - 50);
  }, 10_000);

  it.each([
    ['a private address', '10.0.0.5', /10\.0\.0\.5/],
    ['the cloud metadata endpoint', '169.254.169.254', /169\.254\.169\.254/],
    ['an IPv4-mapped loopback address', '::ffff:127.0.0.1', /127\.0\.0\.1/],
  ])('should refuse a host name that resolves to %s, without connecting', async (_, address, names) => {
    const endpoint = await receiver();
    const resolve = fakeResolver({ 'hooks.test': [address] });
    const result = await sender({ allowLoopback: false }, { resolve }).post(
      webhook(`http://hooks.test:${endpoint.port}/x`),
    );
    expect(result.outcome).toBe('failed');
    expect(result.statusCode).toBeUndefined();
    expect(result.error).toMatch(names);
    expect(result.error).toMatch(/refused/);
    expect(resolve.asked).toContain('hooks.test');
    expect(endpoint.connections).toBe(0);
    expect(endpoint.requests).toHaveLength(0);
  });

  it('should connect to exactly the address it checked when loopback is allowed', async () => {
    const endpoint = await receiver((_, response) => response.writeHead(200).end());
    // hooks.test does not exist in real DNS: only the checked answer can have reached the server.
    const resolve = fakeResolver({ 'hooks.test': ['127.0.0.1'] });
    const result = await sender({ allowLoopback: true }, { resolve }).post(
      webhook(`http://hooks.test:${endpoint.port}/x`),
    );
    expect(result).toMatchObject({ outcome: 'delivered', statusCode: 200 });
    expect(resolve.asked).toContain('hooks.test');
    expect(endpoint.requests).toHaveLength(1);
    expect(endpoint.requests[0]!.headers.host).toBe(`hooks.test:${endpoint.port}`);
    expect(endpoint.requests[0]!.url).toBe('/x');
  });

  it('should refuse a name when any of its addresses is refused, even after a public one', async () => {
    const endpoint = await receiver();
    const resolve = fakeResolver({ 'hooks.test': ['93.184.216.34', '10.1.2.3'] });
    const result = await sender({ allowLoopback: false }, { resolve }).post(
      webhook(`http://hooks.test:${endpoint.port}/x`),
    );
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/10\.1\.2\.3/);
    expect(result.error).toMatch(/refused/);
    expect(endpoint.connections).toBe(0);
  });

  it('should report a name that does not resolve as failed, not throw', async () => {
    const resolve = fakeResolver({});
    const result = await sender({}, { resolve }).post(webhook('http://nowhere.test:9/x'));
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/ENOTFOUND/);
    expect(resolve.asked).toContain('nowhere.test');
  });

  it.each([
    ['a literal loopback IPv4 address', (port: number) => `http://127.0.0.1:${port}/x`, /127\.0\.0\.1/],
    ['a literal loopback IPv6 address', (port: number) => `http://[::1]:${port}/x`, /::1/],
    ['a decimal spelling of loopback', (port: number) => `http://2130706433:${port}/x`, /127\.0\.0\.1/],
    [
      'an IPv4-mapped loopback literal',
      (port: number) => `http://[::ffff:127.0.0.1]:${port}/x`,
      /127\.0\.0\.1/,
    ],
    ['a private literal', (port: number) => `http://10.0.0.5:${port}/x`, /10\.0\.0\.5/],
  ])('should refuse %s without resolving or connecting', async (_, url, names) => {
    const endpoint = await receiver();
    const resolve = fakeResolver({});
    const result = await sender({ allowLoopback: false }, { resolve }).post(webhook(url(endpoint.port)));
    expect(result).toMatchObject({ outcome: 'failed', durationMs: 0 });
    expect(result.error).toMatch(/refused/);
    expect(result.error).toMatch(names);
    expect(resolve.asked).toEqual([]);
    expect(endpoint.connections).toBe(0);
  });

  it('should refuse plain http when only https is allowed', async () => {
    const endpoint = await receiver();
    const resolve = fakeResolver({ 'hooks.test': ['127.0.0.1'] });
    const result = await sender({ allowHttp: false, allowLoopback: true }, { resolve }).post(
      webhook(`http://hooks.test:${endpoint.port}/x`),
    );
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/https/);
    expect(resolve.asked).toEqual([]);
    expect(endpoint.connections).toBe(0);
  });
});

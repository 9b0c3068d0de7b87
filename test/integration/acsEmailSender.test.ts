import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { ACS_MESSAGE_ID_HEADER, AcsEmailSender } from '../../shared/adapters/acsEmailSender.js';
import type { EmailRequest } from '../../shared/notifications/senders.js';

const FROM = 'DoNotReply@cloudjobs.example.org';

/** One request the fake service received, and whether its signature held. */
interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Why the request was refused as unauthenticated; undefined when the signature held. */
  authProblem: string | undefined;
}

/** An answer the fake gives instead of accepting a send. */
interface Refusal {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** A send operation's state as a status poll reports it. */
interface OperationState {
  status: 'NotStarted' | 'Running' | 'Succeeded' | 'Failed' | 'Canceled';
  error?: { code: string; message: string };
}

interface Behaviour {
  /** Answers the nth send request (from 0) with this instead of accepting it, when it returns one. */
  refuse?: (attempt: number) => Refusal | undefined;
  /** What the polls of an accepted send say, one after the other; the last one repeats. */
  states?: OperationState[];
  /** Accepts connections and requests, and never answers. */
  silent?: boolean;
}

/** A stand-in for the Azure Communication Services email API, on 127.0.0.1 over http. */
interface FakeAcs {
  endpoint: string;
  /** The resource's access key (base64), as in its connection string. */
  key: string;
  connectionString: (key?: string) => string;
  requests: Received[];
}

const servers: ReturnType<typeof createServer>[] = [];

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
    if (server.listening) await once(server, 'close');
  }
});

/**
 * Checks a request the way the service does with an access key (as `@azure/communication-common`
 * signs it): the body's SHA-256 in `x-ms-content-sha256`, a recent `x-ms-date`, and an
 * `Authorization: HMAC-SHA256 SignedHeaders=…&Signature=…` over the method, the path and query,
 * and the signed headers' values, keyed with the decoded access key.
 */
function authProblem(request: IncomingMessage, body: string, key: string): string | undefined {
  const contentHash = createHash('sha256').update(body).digest('base64');
  if (request.headers['x-ms-content-sha256'] !== contentHash)
    return 'x-ms-content-sha256 is not the body hash';
  const date = Date.parse(request.headers['x-ms-date'] as string);
  if (!Number.isFinite(date) || Math.abs(Date.now() - date) > 15 * 60_000)
    return 'x-ms-date is missing or stale';
  const match = /^HMAC-SHA256 SignedHeaders=([^&]+)&Signature=(.+)$/.exec(
    request.headers.authorization ?? '',
  );
  if (!match) return 'Authorization is not HMAC-SHA256';
  const signedHeaders = match[1]!.split(';');
  for (const required of ['x-ms-date', 'host', 'x-ms-content-sha256']) {
    if (!signedHeaders.includes(required)) return `${required} is not signed`;
  }
  const values = signedHeaders.map((name) => request.headers[name.toLowerCase()]);
  if (values.some((value) => typeof value !== 'string')) return 'a signed header is missing';
  const stringToSign = `${request.method}\n${request.url}\n${values.join(';')}`;
  const expected = createHmac('sha256', Buffer.from(key, 'base64')).update(stringToSign).digest();
  const given = Buffer.from(match[2]!, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected) ? undefined : 'bad signature';
}

async function fakeAcs(behaviour: Behaviour = {}): Promise<FakeAcs> {
  const key = randomBytes(32).toString('base64');
  const requests: Received[] = [];
  const operations = new Map<string, number>();
  let sends = 0;
  const json = (
    response: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) =>
    response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const problem = authProblem(request, body, key);
      requests.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body,
        authProblem: problem,
      });
      if (behaviour.silent) return;
      if (problem) return json(response, 401, { error: { code: 'Denied', message: problem } });
      const url = new URL(request.url ?? '/', 'http://fake');
      const apiVersion = url.searchParams.get('api-version');
      if (!apiVersion)
        return json(response, 400, { error: { code: 'MissingApiVersion', message: 'no api-version' } });
      if (request.method === 'POST' && url.pathname === '/emails:send') {
        if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) {
          return json(response, 415, { error: { code: 'UnsupportedMediaType', message: 'not JSON' } });
        }
        const refusal = behaviour.refuse?.(sends++);
        if (refusal) return json(response, refusal.status, refusal.body ?? {}, refusal.headers);
        const id = randomUUID();
        operations.set(id, 0);
        return json(
          response,
          202,
          { id, status: 'Running' },
          { 'operation-location': `${endpoint}/emails/operations/${id}?api-version=${apiVersion}` },
        );
      }
      const poll = /^\/emails\/operations\/([^/]+)$/.exec(url.pathname);
      if (request.method === 'GET' && poll && operations.has(poll[1]!)) {
        const id = poll[1]!;
        const polls = operations.get(id)!;
        operations.set(id, polls + 1);
        const states = behaviour.states ?? [{ status: 'Succeeded' }];
        return json(response, 200, { id, ...states[Math.min(polls, states.length - 1)] });
      }
      return json(response, 404, {
        error: { code: 'NotFound', message: `${request.method} ${url.pathname}` },
      });
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    key,
    connectionString: (accessKey = key) => `endpoint=${endpoint}/;accesskey=${accessKey}`,
    requests,
  };
}

function sender(acs: FakeAcs, options: { key?: string; timeoutMs?: number } = {}): AcsEmailSender {
  return new AcsEmailSender({
    connectionString: acs.connectionString(options.key),
    from: FROM,
    timeoutMs: options.timeoutMs ?? 5_000,
    pollIntervalMs: 10,
    allowInsecureConnection: true,
  });
}

const email: EmailRequest = {
  to: 'ops@example.org',
  subject: 'Job "render ✓" finished',
  text: 'Job render finished: SUCCEEDED.\n\nhttps://jobs.example.org/api/jobs/j-1\n',
  messageId: '<1700000000000.7.sub-1@cloudjobs>',
};

const sends = (acs: FakeAcs) => acs.requests.filter((r) => r.method === 'POST');
const polls = (acs: FakeAcs) => acs.requests.filter((r) => r.method === 'GET');

describe('email sender (Azure Communication Services)', () => {
  it('should send exactly the email, signed with the access key, and wait for the operation to succeed', async () => {
    const acs = await fakeAcs({
      states: [{ status: 'Running' }, { status: 'Running' }, { status: 'Succeeded' }],
    });
    const result = await sender(acs).send(email);

    expect(result).toMatchObject({ outcome: 'delivered', statusCode: 202 });
    expect(result.error).toBeUndefined();
    expect(acs.requests.every((r) => r.authProblem === undefined)).toBe(true);
    expect(sends(acs)).toHaveLength(1);
    const [send] = sends(acs);
    expect(send!.url).toMatch(/^\/emails:send\?api-version=\d{4}-\d{2}-\d{2}(-preview)?$/);
    expect(send!.headers['content-type']).toMatch(/^application\/json/);
    expect(send!.headers.authorization).toMatch(
      /^HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=/,
    );
    expect(JSON.parse(send!.body)).toEqual({
      senderAddress: FROM,
      recipients: { to: [{ address: 'ops@example.org' }] },
      content: { subject: 'Job "render ✓" finished', plainText: email.text },
      headers: { [ACS_MESSAGE_ID_HEADER]: '<1700000000000.7.sub-1@cloudjobs>' },
    });
    // Polled, with the same signature scheme, until the operation said Succeeded.
    expect(polls(acs).length).toBe(3);
    expect(polls(acs).every((r) => /^\/emails\/operations\/[0-9a-f-]{36}\?api-version=/.test(r.url))).toBe(
      true,
    );
  });

  it('should report an operation that ends Failed as failed, with the service’s code and message', async () => {
    const acs = await fakeAcs({
      states: [
        { status: 'Running' },
        {
          status: 'Failed',
          error: {
            code: 'EmailDroppedAllRecipientsSuppressed',
            message: 'Email was dropped because all recipients were suppressed.',
          },
        },
      ],
    });
    const result = await sender(acs).send(email);
    expect(result).toMatchObject({ outcome: 'failed', statusCode: 202 });
    expect(result.error).toMatch(
      /^accepted \(operation [0-9a-f-]{36}\), then the operation ended Failed: EmailDroppedAllRecipientsSuppressed: Email was dropped because all recipients were suppressed\.$/,
    );
    expect(sends(acs)).toHaveLength(1);
  });

  it('should report a request signed with the wrong key as failed with 401, without retrying it', async () => {
    const acs = await fakeAcs();
    const result = await sender(acs, { key: randomBytes(32).toString('base64') }).send(email);
    expect(result).toMatchObject({ outcome: 'failed', statusCode: 401 });
    expect(result.error).toBe('Denied: bad signature');
    expect(acs.requests).toHaveLength(1);
    expect(acs.requests[0]!.authProblem).toBe('bad signature');
  });

  it('should report a refused email (400) as failed with the service’s reason, like any refusal', async () => {
    const acs = await fakeAcs({
      refuse: () => ({
        status: 400,
        headers: { 'x-ms-error-code': 'InvalidRecipient' },
        body: { error: { code: 'InvalidRecipient', message: 'The recipient address is not valid.' } },
      }),
    });
    const result = await sender(acs).send({ ...email, to: 'not an address' });
    expect(result).toMatchObject({ outcome: 'failed', statusCode: 400 });
    expect(result.error).toBe('InvalidRecipient: The recipient address is not valid.');
    expect(sends(acs)).toHaveLength(1);
  });

  it('should give up on a service that never answers within the attempt timeout', async () => {
    const acs = await fakeAcs({ silent: true });
    const started = performance.now();
    const result = await sender(acs, { timeoutMs: 300 }).send(email);
    const took = performance.now() - started;
    expect(result).toMatchObject({ outcome: 'failed', error: 'no outcome within 300 ms' });
    expect(result.statusCode).toBeUndefined();
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2_000);
    expect(sends(acs)).toHaveLength(1);
  });

  it('should count an accepted email still running at the timeout as delivered, and stop polling', async () => {
    const acs = await fakeAcs({ states: [{ status: 'Running' }] });
    const started = performance.now();
    const result = await sender(acs, { timeoutMs: 400 }).send(email);
    expect(performance.now() - started).toBeLessThan(2_000);
    // The service has it, as an SMTP server that answered 250 has it: a retry would send it twice.
    expect(result).toEqual({
      outcome: 'delivered',
      statusCode: 202,
      durationMs: expect.any(Number) as number,
    });
    // Proving an absence takes waiting: 200 ms is twenty poll intervals, so a poller still running
    // would be seen many times over. One poll may already be on the wire when the timeout aborts
    // it and reach the server after send() resolved; that one is not a poll started late.
    const seen = polls(acs).length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(polls(acs).length).toBeLessThanOrEqual(seen + 1);
  });

  it('should retry a 503 the way the SDK does (after its Retry-After) and deliver once', async () => {
    const acs = await fakeAcs({
      refuse: (attempt) =>
        attempt === 0
          ? {
              status: 503,
              headers: { 'retry-after': '1' },
              body: { error: { code: 'ServiceUnavailable', message: 'Try again.' } },
            }
          : undefined,
    });
    const result = await sender(acs).send(email);
    expect(result).toMatchObject({ outcome: 'delivered', statusCode: 202 });
    expect(sends(acs)).toHaveLength(2);
    expect(sends(acs)[1]!.body).toBe(sends(acs)[0]!.body);
  });

  it('should retry a throttled send (429) a bounded number of times, then report the 429', async () => {
    const acs = await fakeAcs({
      refuse: () => ({
        status: 429,
        headers: { 'retry-after': '1' },
        body: { error: { code: 'TooManyRequests', message: 'Rate limit exceeded.' } },
      }),
    });
    const started = performance.now();
    const result = await sender(acs).send(email);
    expect(performance.now() - started).toBeLessThan(4_000);
    expect(result).toMatchObject({ outcome: 'failed', statusCode: 429 });
    expect(result.error).toBe('TooManyRequests: Rate limit exceeded.');
    // The first try and the adapter's two retries.
    expect(sends(acs)).toHaveLength(3);
  });

  it('should not wait out a Retry-After longer than the attempt timeout', async () => {
    const acs = await fakeAcs({
      refuse: () => ({
        status: 429,
        headers: { 'retry-after': '3600' },
        body: { error: { code: 'TooManyRequests', message: 'Rate limit exceeded.' } },
      }),
    });
    const started = performance.now();
    const result = await sender(acs, { timeoutMs: 300 }).send(email);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(result).toMatchObject({ outcome: 'failed', error: 'no outcome within 300 ms' });
    expect(sends(acs)).toHaveLength(1);
  });
});

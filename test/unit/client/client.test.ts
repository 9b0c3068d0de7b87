import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudJobsClient, CloudJobsError, CloudJobsUnreachableError } from '../../../client/index.js';
import { readSse, toJobEvent } from '../../../client/events.js';
import { retryAfterMs } from '../../../client/http.js';

/** A stand-in service answering each request with the next of `answers`, recording what came. */
async function service(
  answers: Array<(request: http.IncomingMessage, response: http.ServerResponse) => void>,
): Promise<{
  url: string;
  seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; at: number }>;
}> {
  const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; at: number }> = [];
  const server = http.createServer((request, response) => {
    seen.push({ method: request.method!, url: request.url!, headers: request.headers, at: Date.now() });
    request.resume();
    const answer = answers[Math.min(seen.length - 1, answers.length - 1)]!;
    answer(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  ((_request: http.IncomingMessage, response: http.ServerResponse) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  }) as (request: http.IncomingMessage, response: http.ServerResponse) => void;

const job = { id: 'j1', status: 'PENDING' };

/** A body arriving in pieces, as the network delivers it. */
async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) {
    await Promise.resolve();
    yield new TextEncoder().encode(part);
  }
}

describe('the typed client', () => {
  it('should retry a submit after 503 and 429 with the same Idempotency-Key, honouring Retry-After', async () => {
    const api = await service([
      json(
        503,
        { status: 503, code: 'BATCH_UNAVAILABLE', title: 'x', detail: 'busy', type: 't' },
        { 'retry-after': '1' },
      ),
      json(429, { status: 429, code: 'THROTTLED', title: 'x', detail: 'slow down', type: 't' }),
      json(202, job),
    ]);
    const client = new CloudJobsClient({ url: api.url, token: 'tok', maxRetryDelayMs: 2000 });
    expect(await client.jobs.submit({ name: 'n', tasks: [{ id: 'a', command: 'true' }] })).toEqual(job);
    expect(api.seen).toHaveLength(3);
    const keys = new Set(api.seen.map((s) => s.headers['idempotency-key']));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(api.seen[1]!.at - api.seen[0]!.at).toBeGreaterThanOrEqual(950);
    expect(api.seen.every((s) => s.headers.authorization === 'Bearer tok')).toBe(true);
  });

  it('should sign in with a Microsoft Entra credential for the app’s scope, or a token function', async () => {
    const api = await service([json(200, { items: [] })]);
    const scopes: Array<string | string[]> = [];
    const credential = {
      getToken: (scope: string | string[]) => {
        scopes.push(scope);
        return Promise.resolve({ token: `entra-${scopes.length}` });
      },
    };
    const entra = new CloudJobsClient({ url: api.url, credential, scope: 'api://cloudjobs/.default' });
    await entra.jobs.list();
    await entra.jobs.list();
    expect(scopes).toEqual(['api://cloudjobs/.default', 'api://cloudjobs/.default']);
    expect(api.seen.map((s) => s.headers.authorization)).toEqual(['Bearer entra-1', 'Bearer entra-2']);

    let calls = 0;
    await new CloudJobsClient({ url: api.url, token: () => `fresh-${++calls}` }).jobs.list();
    expect(api.seen.at(-1)!.headers.authorization).toBe('Bearer fresh-1');
    await expect(new CloudJobsClient({ url: api.url, credential }).jobs.list()).rejects.toThrow(
      /needs the scope of the app registration/,
    );
  });

  it('should throw the problem document, typed, with each field at fault', async () => {
    const problem = {
      type: 'urn:cloudjobs:problem:VALIDATION_FAILED',
      title: 'Bad Request',
      status: 400,
      code: 'VALIDATION_FAILED',
      detail: 'the request is invalid: 2 problems',
      errors: [
        { path: 'tasks[0].command', message: 'required' },
        { path: 'colour', message: 'is not a known field' },
      ],
    };
    const api = await service([json(400, problem)]);
    const error = await new CloudJobsClient({ url: api.url }).jobs
      .submit({ name: 'n', tasks: [] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudJobsError);
    expect(error).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', errors: problem.errors });
    expect(api.seen).toHaveLength(1);
  });

  it('should not retry a refusal, and make a problem of an answer that is not one', async () => {
    const api = await service([
      (_q, r) => {
        r.writeHead(401, { 'content-type': 'text/plain' }).end('no');
      },
    ]);
    const error = await new CloudJobsClient({ url: api.url }).jobs.get('x').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect(api.seen).toHaveLength(1);
  });

  it('should say which service it cannot reach, and why', async () => {
    const api = await service([json(200, {})]);
    const url = api.url;
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const error = await new CloudJobsClient({ url, retries: 1, maxRetryDelayMs: 10 }).jobs
      .list()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudJobsUnreachableError);
    expect((error as Error).message).toBe(`cannot reach cloudjobs at ${url}: ECONNREFUSED`);
  });

  it('should follow a job’s events across a break, resuming with the last event id', async () => {
    const event = (id: string, status: string) =>
      `id: ${id}\nevent: job.status.changed\ndata: ${JSON.stringify({ type: 'cloudjobs.job.status.changed', data: { status } })}\n\n`;
    const api = await service([
      (_q, r) => {
        r.writeHead(200, { 'content-type': 'text/event-stream' });
        r.write('retry: 10\n\n');
        r.write(event('1.0', 'PENDING'));
        // The connection breaks mid-stream.
        setTimeout(() => r.destroy(), 20);
      },
      (_q, r) => {
        r.writeHead(200, { 'content-type': 'text/event-stream' });
        r.end(`: heartbeat\n\n${event('2.0', 'RUNNING')}${event('3.0', 'FINISHED')}`);
      },
    ]);
    const seen: string[] = [];
    for await (const e of new CloudJobsClient({ url: api.url }).jobs.events('j1')) {
      if (e.event === 'job.status.changed') seen.push(`${e.id} ${e.data.data.status}`);
    }
    expect(seen).toEqual(['1.0 PENDING', '2.0 RUNNING', '3.0 FINISHED']);
    expect(api.seen.map((s) => s.headers['last-event-id'])).toEqual([undefined, '1.0']);
  });

  it('should stop when its signal aborts, even as the answer ends at that moment', async () => {
    // The last bytes and the end of the body arrive together, and the reader aborts on reading
    // them: the window in which Node 20's fetch never settles a read that waits on its own abort.
    const endsAfter = (text: string) => (_q: http.IncomingMessage, r: http.ServerResponse) => {
      r.writeHead(200, { 'content-type': 'text/plain' });
      r.write(': open\n\n');
      setTimeout(() => r.end(text), 5);
    };
    const event = `id: 1.0\nevent: job.status.changed\ndata: ${JSON.stringify({ data: { status: 'RUNNING' } })}\n\n`;
    const api = await service([endsAfter(event), endsAfter(event), endsAfter('hello\n')]);
    const client = new CloudJobsClient({ url: api.url });
    const stopAtFirst = async (items: (signal: AbortSignal) => AsyncIterable<unknown>) => {
      const controller = new AbortController();
      let seen = 0;
      const read = (async () => {
        for await (const _ of items(controller.signal)) {
          seen++;
          controller.abort();
        }
      })();
      await expect(read).rejects.toThrow(/abort/i);
      expect(seen).toBe(1);
    };
    await stopAtFirst((signal) => client.jobs.events('j1', { signal }));
    await stopAtFirst((signal) => client.events({ signal }));
    await stopAtFirst((signal) => client.jobs.log('j1', 'a', { follow: true, signal }));
  });
});

describe('reading a text/event-stream', () => {
  it('should read blocks split anywhere, with CRLF or LF, comments and multi-line data', async () => {
    const blocks = [];
    for await (const block of readSse(
      chunks(
        'retry: 2000\r\n\r\n: heart',
        'beat\n\nid: 1.0\nevent: job.pro',
        'gress\ndata: {"a":\ndata: 1}\r',
        '\n\r\n',
      ),
    )) {
      blocks.push(block);
    }
    expect(blocks).toEqual([{ retry: 2000 }, { id: '1.0', event: 'job.progress', data: '{"a":\n1}' }]);
    expect(toJobEvent(blocks[1]!)).toEqual({ id: '1.0', event: 'job.progress', data: { a: 1 } });
    expect(toJobEvent({ event: 'something.else', data: '{}' })).toBeUndefined();
  });

  const now = Date.parse('Wed, 02 Dec 2026 18:00:00 GMT');
  it.each([
    ['5', 5000],
    ['0', 0],
    ['Wed, 02 Dec 2026 18:00:03 GMT', 3000],
    ['Wed, 02 Dec 2026 17:59:00 GMT', 0],
    ['soon', undefined],
    [null, undefined],
  ])('should read Retry-After %j', (value, ms) => {
    expect(retryAfterMs(value, now)).toBe(ms);
  });
});

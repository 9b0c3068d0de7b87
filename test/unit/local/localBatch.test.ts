import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { splitCommandLine } from '../../../infra/local/batch/commandLine.js';
import { dependencyAction, dependencyIds } from '../../../infra/local/batch/dependencies.js';
import { parseFilter, select } from '../../../infra/local/batch/odata.js';
import { verifySharedKey } from '../../../infra/local/batch/sharedKey.js';

describe('Batch shared key signatures', () => {
  const key = Buffer.from('a test key').toString('base64');
  type Captured = { method: string; raw: string; headers: IncomingHttpHeaders; length: number };

  // The real SDK client decides what a valid signature is: capture what it sends on the wire.
  async function capture(call: (client: BatchServiceClient) => Promise<unknown>): Promise<Captured> {
    let captured: Captured | undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        captured = {
          method: request.method!,
          raw: request.url!,
          headers: request.headers,
          length: Buffer.concat(chunks).length,
        };
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      // Only the request matters here; operations that expect 201 or 202 reject this answer.
      await call(
        new BatchServiceClient(new BatchSharedKeyCredentials('acct', key), `http://127.0.0.1:${port}`),
      ).catch(() => undefined);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    if (!captured) throw new Error('the SDK sent nothing');
    return captured;
  }

  it.each<[string, (client: BatchServiceClient) => Promise<unknown>]>([
    [
      'GET a filtered, paged task list',
      (c) => c.task.list('j1', { taskListOptions: { filter: "state eq 'completed'", maxResults: 10 } }),
    ],
    ['POST a job with a body', (c) => c.job.add({ id: 'j1', poolInfo: { poolId: 'p' } })],
    ['POST with no body', (c) => c.job.enable('j1')],
    ['DELETE with an escaped id', (c) => c.job.deleteMethod('jé')],
  ])('should accept what the SDK signs: %s', async (_name, call) => {
    const request = await capture(call);
    expect(request.headers.authorization).toMatch(/^SharedKey acct:/);
    expect(
      verifySharedKey(request.method, request.raw, request.headers, request.length, 'acct', key),
    ).toEqual({ ok: true });
  });

  it('should refuse a tampered request, another account, or no signature', async () => {
    const request = await capture((c) => c.job.get('j1'));
    const tampered = request.raw.replace('/jobs/j1', '/jobs/j2');
    expect(verifySharedKey('GET', tampered, request.headers, 0, 'acct', key)).toMatchObject({ ok: false });
    expect(verifySharedKey('GET', request.raw, request.headers, 0, 'other', key)).toMatchObject({
      ok: false,
      reason: /unknown account/,
    });
    expect(verifySharedKey('GET', request.raw, {}, 0, 'acct', key)).toMatchObject({
      ok: false,
      reason: /no SharedKey/,
    });
    const wrongKey = Buffer.from('another key').toString('base64');
    expect(verifySharedKey('GET', request.raw, request.headers, 0, 'acct', wrongKey)).toMatchObject({
      ok: false,
      reason: /does not match/,
    });
  });
});

describe('command lines', () => {
  it.each([
    ['python3 run.py --seed 5', ['python3', 'run.py', '--seed', '5']],
    [`/bin/sh -c 'echo "$A" && exit 3'`, ['/bin/sh', '-c', 'echo "$A" && exit 3']],
    [`echo "a \\"quoted\\" word" b\\ c`, ['echo', 'a "quoted" word', 'b c']],
    ['  spaced   out  ', ['spaced', 'out']],
    [`''`, ['']],
  ])('should split %j', (line, argv) => {
    expect(splitCommandLine(line)).toEqual(argv);
  });

  it('should refuse an unterminated quote', () => {
    expect(() => splitCommandLine(`echo 'oops`)).toThrow(/unterminated/);
  });
});

describe('OData filters', () => {
  const items = [
    { id: '1', state: 'completed', executionInfo: { result: 'success', exitCode: 0 } },
    { id: '2', state: 'completed', executionInfo: { result: 'failure', exitCode: 3 } },
    { id: '3', state: 'running', executionInfo: {} },
  ];
  it.each([
    ["state eq 'completed'", ['1', '2']],
    ["state eq 'Completed' and executionInfo/result eq 'failure'", ['2']],
    ["state eq 'running' or (executionInfo/exitCode gt 2)", ['2', '3']],
    ["state ne 'completed'", ['3']],
    ["id eq 'it''s'", []],
  ])('should filter %s', (filter, ids) => {
    expect(items.filter(parseFilter(filter)).map((i) => i.id)).toEqual(ids);
  });

  it.each(["state startswith 'a'", 'state eq', "(state eq 'a'", "state eq 'a' xor id eq 'b'"])(
    'should refuse %j as Batch does',
    (filter) => {
      expect(() => parseFilter(filter)).toThrow(
        expect.objectContaining({ code: 'InvalidQueryParameterValue', status: 400 }),
      );
    },
  );

  it('should select top-level properties', () => {
    expect(select({ id: '1', state: 'x', big: {} }, 'id, state')).toEqual({ id: '1', state: 'x' });
  });
});

describe('task dependencies on the local service', () => {
  it('should expand ranges', () => {
    expect(
      dependencyIds({
        id: 'x',
        commandLine: '',
        dependsOn: { taskIds: ['a'], taskIdRanges: [{ start: 2, end: 4 }] },
      }),
    ).toEqual(['a', '2', '3', '4']);
  });

  it.each([
    [{}, 'success', 0, 'satisfy'],
    [{}, 'failure', 1, 'block'],
    [{ default: { dependencyAction: 'satisfy' as const } }, 'failure', 1, 'satisfy'],
    [
      {
        default: { dependencyAction: 'satisfy' as const },
        exitCodes: [{ code: 2, exitOptions: { dependencyAction: 'block' as const } }],
      },
      'failure',
      2,
      'block',
    ],
    [
      { exitCodeRanges: [{ start: 10, end: 20, exitOptions: { dependencyAction: 'satisfy' as const } }] },
      'failure',
      15,
      'satisfy',
    ],
  ])('should apply exit conditions %j to a %s with exit code %i', (exitConditions, result, code, action) => {
    expect(
      dependencyAction(
        { id: 'x', commandLine: '', exitConditions },
        result as 'success' | 'failure',
        code,
        false,
      ),
    ).toBe(action);
  });
});

import { describe, expect, inject, it } from 'vitest';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { LOCAL_BATCH_ACCOUNT, LOCAL_BATCH_KEY } from '../../infra/local/batch/localBatch.js';
import {
  historyEntrySchema,
  jobViewSchema,
  poolViewSchema,
  problemSchema,
  subscriptionViewSchema,
  uploadUrlSchema,
} from '../../shared/http/openapi.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef';
const OPS = 'ops-token-0123456789abcdef';

type Problem = { status: number; code: string; errors?: Array<{ path: string; message: string }> };

describe('jobs API on the embedded runtime', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: {
      CLOUDJOBS_API_TOKENS: `alice=${ALICE},bob=${BOB},ops:admin=${OPS}`,
      CLOUDJOBS_TABLE_PREFIX: uniqueName('e'),
      CLOUDJOBS_MAX_BODY_BYTES: '65536',
      CLOUDJOBS_MAX_TASKS: '500',
    },
  });

  const call = async (
    token: string | undefined,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const response = await runtime.fetch(`/api${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: (text ? JSON.parse(text) : undefined) as Record<string, unknown>,
    };
  };

  const spec = (name: string) => ({
    name,
    tasks: [
      { id: 'prep', command: 'python3 first_task.py', outputs: ['result.json'] },
      { id: 'train', command: 'python3 second_task.py', inputs: [{ fromTask: 'prep', path: 'result.json' }] },
    ],
  });

  it('should take a newcomer’s first job and show it back, with its history and tasks', async () => {
    const submitted = await call(ALICE, 'POST', '/jobs', spec('first job'));
    expect(submitted.status).toBe(202);
    const id = submitted.body.id as string;
    expect(submitted.headers.get('location')).toBe(`/api/jobs/${id}`);
    expect(submitted.body).toMatchObject({
      name: 'firstjob',
      owner: 'alice',
      status: 'PENDING',
      taskCount: 2,
      pool: 'local',
    });

    const read = await call(ALICE, 'GET', `/jobs/${id}`);
    expect(read.status).toBe(200);
    // It starts at once, so it may be anywhere on its way by now.
    expect(read.body).toMatchObject({ id, spec: { name: 'firstjob' }, taskCount: 2 });
    // Answers are what the OpenAPI document says they are, and carry nothing it does not.
    jobViewSchema.strict().parse(submitted.body);
    jobViewSchema.strict().parse(read.body);
    const history = await call(ALICE, 'GET', `/jobs/${id}/history`);
    expect((history.body.items as unknown[])[0]).toMatchObject({ sequence: 1, status: 'PENDING' });
    historyEntrySchema.strict().parse((history.body.items as unknown[])[0]);
  });

  it('should return the same job for a retried submission with the same Idempotency-Key', async () => {
    const key = uniqueName('key');
    const first = await call(ALICE, 'POST', '/jobs', spec('retried'), { 'idempotency-key': key });
    const again = await call(ALICE, 'POST', '/jobs', spec('retried'), { 'idempotency-key': key });
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const different = await call(ALICE, 'POST', '/jobs', spec('other'), { 'idempotency-key': key });
    expect(different.status).toBe(409);
    expect((different.body as unknown as Problem).code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('should page through a user’s jobs newest first', async () => {
    const name = uniqueName('paged');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await call(BOB, 'POST', '/jobs', spec(name))).body.id as string);
    const seen: string[] = [];
    let continuation: string | undefined;
    do {
      const page = await call(
        BOB,
        'GET',
        `/jobs?name=${name}&limit=2${continuation ? `&continuation=${continuation}` : ''}`,
      );
      expect(page.status).toBe(200);
      const items = page.body.items as Array<{ id: string }>;
      expect(items.length).toBeLessThanOrEqual(2);
      seen.push(...items.map((j) => j.id));
      continuation = page.body.continuation as string | undefined;
    } while (continuation);
    expect(seen).toEqual([...ids].reverse());
  });

  it('should keep two users apart: another user’s job answers 404 exactly like a missing one', async () => {
    const alices = (await call(ALICE, 'POST', '/jobs', spec('private'))).body.id as string;
    const missing = await call(BOB, 'GET', '/jobs/00000000-0000-0000-0000-000000000000');
    for (const path of [`/jobs/${alices}`, `/jobs/${alices}/history`, `/jobs/${alices}/tasks`]) {
      const answer = await call(BOB, 'GET', path);
      expect(answer.status).toBe(404);
      expect({ ...answer.body, detail: undefined, instance: undefined }).toEqual({
        ...missing.body,
        detail: undefined,
        instance: undefined,
      });
    }
    const bobsList = await call(BOB, 'GET', '/jobs?limit=1000');
    expect((bobsList.body.items as Array<{ id: string }>).map((j) => j.id)).not.toContain(alices);
    expect((await call(BOB, 'GET', '/jobs?owner=alice')).status).toBe(400);
    // An admin may look.
    expect((await call(OPS, 'GET', `/jobs/${alices}`)).status).toBe(200);
    expect(
      ((await call(OPS, 'GET', '/jobs?owner=alice&limit=1000')).body.items as Array<{ id: string }>).map(
        (j) => j.id,
      ),
    ).toContain(alices);
  });

  it('should refuse a caller without a valid token', async () => {
    expect((await call(undefined, 'GET', '/jobs')).status).toBe(401);
    const wrong = await call('not-a-real-token-at-all', 'POST', '/jobs', spec('x'));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/Bearer/);
  });

  it.each<[string, unknown, string, RegExp]>([
    ['malformed JSON', '{"name": "x", tasks: []', '(body)', /JSON/],
    ['a wrong type', { name: 'x', tasks: [{ id: 'a', command: 42 }] }, 'tasks[0].command', /string/],
    [
      'an unknown field',
      { name: 'x', tasks: [{ id: 'a', command: 'x' }], urgency: 5 },
      'urgency',
      /not a known field/,
    ],
    [
      'a cycle',
      {
        name: 'x',
        tasks: [
          { id: 'a', command: 'x', dependsOn: ['b'] },
          { id: 'b', command: 'x', dependsOn: ['a'] },
        ],
      },
      'tasks[0].dependsOn',
      /cycle: a → b → a/,
    ],
    [
      'path traversal',
      {
        name: 'x',
        tasks: [{ id: 'a', command: 'x', inputs: [{ source: 'blob://data/x', target: '../../etc/passwd' }] }],
      },
      'tasks[0].inputs[0].target',
      /\.\./,
    ],
    [
      'too many tasks',
      { name: 'x', sweep: { command: 'x', range: [1, 501] } },
      'sweep.range',
      /limit is 500/,
    ],
    [
      'an unknown macro',
      { name: 'x', tasks: [{ id: 'a', command: 'echo ${secret}' }] },
      'tasks[0].command',
      /secret/,
    ],
    ['a missing template', { name: 'x', template: 'nope@1.0' }, 'template', /no template/],
  ])('should answer %s with 400, naming the field, and store nothing', async (_case, body, path, message) => {
    const name = uniqueName('bad');
    const payload =
      typeof body === 'string' ? body.replace('"x"', `"${name}"`) : { ...(body as object), name };
    const answer = await call(ALICE, 'POST', '/jobs', payload);
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toMatch(/application\/problem\+json/);
    problemSchema.strict().parse(answer.body);
    expect((answer.body as unknown as Problem).errors).toContainEqual({
      path,
      message: expect.stringMatching(message) as string,
    });
    expect(((await call(ALICE, 'GET', `/jobs?name=${name}`)).body.items as unknown[]).length).toBe(0);
  });

  it('should refuse an oversized body with 413', async () => {
    const answer = await call(ALICE, 'POST', '/jobs', {
      name: 'big',
      description: 'x'.repeat(70_000),
      tasks: [{ id: 'a', command: 'x' }],
    });
    expect(answer.status).toBe(413);
    expect((answer.body as unknown as Problem).code).toBe('BODY_TOO_LARGE');
  });

  it('should register template versions and fill a job from one', async () => {
    const name = uniqueName('tpl');
    const put = await call(ALICE, 'PUT', `/templates/${name}/versions/1.0.0`, {
      public: false,
      spec: {
        image: 'python:3.12-slim',
        parameters: { threshold: '0.5' },
        sweep: { command: 'python3 run.py --seed ${index} --t ${threshold}', range: [1, 3] },
      },
    });
    expect(put.status).toBe(201);
    const job = await call(ALICE, 'POST', '/jobs', {
      name: 'from-template',
      template: `${name}@1.0.0`,
      parameters: { threshold: '0.9' },
    });
    expect(job.status).toBe(202);
    expect(job.body).toMatchObject({ template: `${name}@1.0.0`, taskCount: 3 });
    // Bob cannot see Alice's private version, nor use it.
    expect((await call(BOB, 'GET', `/templates/${name}`)).status).toBe(404);
    const bobs = await call(BOB, 'POST', '/jobs', { name: 'x', template: `${name}@1.0.0` });
    expect(bobs.status).toBe(400);
    expect((await call(ALICE, 'GET', `/templates/${name}`)).body).toMatchObject({
      name,
      versions: [{ version: '1.0.0' }],
    });
  });

  it('should list pools to anyone and let only admins change them', async () => {
    const pools = await call(BOB, 'GET', '/pools');
    for (const pool of pools.body.items as unknown[]) poolViewSchema.strict().parse(pool);
    expect((pools.body.items as Array<{ id: string }>).map((p) => p.id)).toContain('local');
    const id = uniqueName('gpu');
    expect(
      (await call(BOB, 'POST', '/pools', { id, vmSize: 'standard_nc6', dedicatedNodes: 1 })).status,
    ).toBe(403);
    const bad = await call(OPS, 'POST', '/pools', { id, vmSize: 'standard_nc6', dedicatedNodes: -1 });
    expect(bad.status).toBe(400);
    expect((bad.body as unknown as Problem).errors).toContainEqual(
      expect.objectContaining({ path: 'dedicatedNodes' }),
    );
    const created = await call(OPS, 'POST', '/pools', {
      id,
      vmSize: 'standard_nc6',
      dedicatedNodes: 1,
      slotsPerNode: 2,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id, vmSize: 'standard_nc6', slotsPerNode: 2 });
    const steady = () =>
      waitFor(async () => {
        const list = (await call(OPS, 'GET', '/pools')).body.items as Array<{
          id: string;
          allocationState: string;
        }>;
        return list.find((p) => p.id === id)?.allocationState === 'steady' ? true : undefined;
      });
    const resize = await call(OPS, 'PATCH', `/pools/${id}`, { dedicatedNodes: 3 });
    // Batch refuses a resize while the pool is still being allocated; the API says so.
    if (resize.status === 409) {
      expect((resize.body as unknown as Problem).code).toBe('POOL_RESIZING');
      await steady();
      expect((await call(OPS, 'PATCH', `/pools/${id}`, { dedicatedNodes: 3 })).status).toBe(202);
    } else {
      expect(resize.status).toBe(202);
    }
    await steady();
    expect((await call(OPS, 'PATCH', '/pools/no-such-pool', { dedicatedNodes: 3 })).status).toBe(404);
    expect((await call(OPS, 'DELETE', `/pools/${id}`)).status).toBe(202);
    expect((await call(OPS, 'DELETE', '/pools/no-such-pool')).status).toBe(404);
  });

  it('should create subscriptions with a secret shown once, and keep them to their owner', async () => {
    const job = (await call(ALICE, 'POST', '/jobs', spec('watched'))).body.id as string;
    const created = await call(ALICE, 'POST', '/subscriptions', {
      url: 'https://hooks.example.org/cloudjobs',
      events: ['job.*'],
      jobId: job,
      statuses: ['FINISHED', 'FAILED'],
      ttlMinutes: 60,
    });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    subscriptionViewSchema.strict().parse(created.body);
    const id = created.body.id as string;
    expect(created.body).toMatchObject({
      target: { kind: 'webhook', url: 'https://hooks.example.org/cloudjobs' },
      jobId: job,
      enabled: true,
    });
    const read = await call(ALICE, 'GET', `/subscriptions/${id}`);
    expect(read.status).toBe(200);
    expect(JSON.stringify(read.body)).not.toContain('whsec_');
    expect(JSON.stringify((await call(ALICE, 'GET', '/subscriptions')).body)).not.toContain('whsec_');

    const missing = await call(BOB, 'GET', '/subscriptions/00000000-0000-0000-0000-000000000000');
    for (const [method, path] of [
      ['GET', `/subscriptions/${id}`],
      ['DELETE', `/subscriptions/${id}`],
    ] as const) {
      const answer = await call(BOB, method, path);
      expect(answer.status).toBe(404);
      expect({ ...answer.body, detail: undefined, instance: undefined }).toEqual({
        ...missing.body,
        detail: undefined,
        instance: undefined,
      });
    }
    expect(
      ((await call(BOB, 'GET', '/subscriptions')).body.items as Array<{ id: string }>).map((s) => s.id),
    ).not.toContain(id);
    // Bob cannot subscribe to Alice's job: it is as unknown to him as a missing one.
    expect((await call(BOB, 'POST', '/subscriptions', { email: 'bob@example.org', jobId: job })).status).toBe(
      404,
    );
    const bad = await call(ALICE, 'POST', '/subscriptions', { url: 'ftp://example.org/x', events: ['nope'] });
    expect(bad.status).toBe(400);
    expect(((bad.body as unknown as Problem).errors ?? []).map((e) => e.path)).toEqual(
      expect.arrayContaining(['url']),
    );
    // Hostile webhook targets are refused, however the address is spelled; this runtime allows
    // loopback (a receiver on the same machine), as the embedded default does.
    for (const url of [
      'https://169.254.169.254/latest/meta-data',
      'https://10.0.0.1/hook',
      'https://[::ffff:192.168.0.1]/hook',
      'https://0xA9FEA9FE/hook',
      'https://[fc00::1]/hook',
    ]) {
      const refused = await call(ALICE, 'POST', '/subscriptions', { url });
      expect(refused.status, url).toBe(400);
      expect(refused.body).toMatchObject({ code: 'WEBHOOK_URL_REFUSED', errors: [{ path: 'url' }] });
    }
    expect((await call(ALICE, 'POST', '/subscriptions', { url: 'http://127.0.0.1:9/hook' })).status).toBe(
      201,
    );
    const hostileSpec = await call(ALICE, 'POST', '/jobs', {
      name: 'x',
      tasks: [{ id: 'a', command: 'x' }],
      notifications: [{ url: 'https://hooks.example.org/ok' }, { url: 'https://192.168.1.1/x' }],
    });
    expect(hostileSpec.status).toBe(400);
    expect(hostileSpec.body).toMatchObject({ errors: [{ path: 'notifications[1].url' }] });
    expect((await call(ALICE, 'GET', `/subscriptions/${id}/deliveries`)).status).toBe(200);
    expect((await call(BOB, 'GET', `/subscriptions/${id}/deliveries`)).status).toBe(404);
    expect((await call(ALICE, 'DELETE', `/subscriptions/${id}`)).status).toBe(204);
    expect((await call(ALICE, 'GET', `/subscriptions/${id}`)).status).toBe(404);
  });

  it('should hand out an inbox upload URL that writes one blob in the caller’s folder and nothing else', async () => {
    const answer = await call(ALICE, 'GET', '/inbox/upload-url?file=first.json');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      container: 'job-inbox',
      blobName: 'alice/first.json',
      method: 'PUT',
    });
    uploadUrlSchema.strict().parse(answer.body);
    const url = answer.body.url as string;
    const put = await fetch(url, {
      method: 'PUT',
      headers: { 'x-ms-blob-type': 'BlockBlob' },
      body: JSON.stringify(spec('from inbox')),
    });
    expect(put.status).toBe(201);
    // Write-only: it cannot read back, list, or reach another folder.
    expect((await fetch(url)).status).toBe(403);
    const elsewhere = url.replace('/alice/first.json', '/bob/first.json');
    expect(
      (await fetch(elsewhere, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: '{}' }))
        .status,
    ).toBe(403);
    expect((await call(ALICE, 'GET', '/inbox/upload-url?file=../bob/x.json')).status).toBe(400);
    expect((await call(ALICE, 'GET', '/inbox/upload-url')).body.blobName).toMatch(
      /^alice\/[0-9a-f-]{36}\.json$/,
    );
  });

  it('should describe every endpoint in an OpenAPI 3.1 document generated from the schemas', async () => {
    const answer = await call(undefined, 'GET', '/openapi.json');
    expect(answer.status).toBe(200);
    const document = answer.body as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { schema: Record<string, unknown> }> } }>
      >;
    };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths).sort()).toEqual(
      [
        '/dashboard/roles',
        '/events',
        '/files',
        '/files/upload-url',
        '/files/{path}',
        '/health',
        '/me',
        '/inbox/upload-url',
        '/jobs',
        '/jobs/{id}',
        '/jobs/{id}/history',
        '/jobs/{id}/tasks',
        '/jobs/{id}/cancel',
        '/jobs/{id}/complete',
        '/jobs/{id}/events',
        '/jobs/{id}/graph',
        '/jobs/{id}/pause',
        '/jobs/{id}/resume',
        '/jobs/{id}/resubmit',
        '/jobs/{id}/tasks/{taskId}/attempts',
        '/jobs/{id}/tasks/{taskId}/attempts/{attempt}/logs/{stream}',
        '/jobs/{id}/tasks/{taskId}/cancel',
        '/jobs/{id}/tasks/{taskId}/logs/{stream}',
        '/jobs/{id}/outputs',
        '/jobs/{id}/outputs/{path}',
        '/jobs/{id}/outputs.zip',
        '/openapi.json',
        '/pools',
        '/pools/{id}',
        '/presets',
        '/secrets',
        '/secrets/{name}',
        '/subscriptions',
        '/subscriptions/{id}',
        '/subscriptions/{id}/deliveries',
        '/subscriptions/{id}/deliveries/retry',
        '/subscriptions/{id}/deliveries/{deliveryId}/retry',
        '/subscriptions/{id}/secret',
        '/subscriptions/signing-secret',
        '/templates',
        '/templates/{name}',
        '/templates/{name}/versions/{version}',
      ].sort(),
    );
    const submit = document.paths['/jobs']!.post!.requestBody!.content['application/json']!.schema;
    expect(submit).toMatchObject({ type: 'object', additionalProperties: false });
    expect(Object.keys(submit.properties as object)).toEqual(
      expect.arrayContaining(['name', 'tasks', 'sweep', 'template', 'notifications']),
    );
  });

  it('should refuse to delete a job that has not ended, and show none of it to others', async () => {
    const id = (
      await call(ALICE, 'POST', '/jobs', { name: 'long', tasks: [{ id: 'wait', command: 'sleep 120' }] })
    ).body.id as string;
    const deleted = await call(ALICE, 'DELETE', `/jobs/${id}`);
    expect(deleted.status).toBe(409);
    expect((deleted.body as unknown as Problem).code).toBe('JOB_NOT_FINISHED');
    for (const [method, path] of [
      ['DELETE', `/jobs/${id}`],
      ['POST', `/jobs/${id}/cancel`],
      ['POST', `/jobs/${id}/pause`],
      ['POST', `/jobs/${id}/resume`],
      ['GET', `/jobs/${id}/tasks/wait/logs/stdout`],
      ['GET', `/jobs/${id}/outputs`],
      ['GET', `/jobs/${id}/outputs/wait/a.csv`],
    ] as const) {
      expect((await call(BOB, method, path)).status, path).toBe(404);
    }
    expect((await call(ALICE, 'GET', `/jobs/${id}/tasks/wait/logs/other`)).status).toBe(404);
    expect((await call(ALICE, 'POST', `/jobs/${id}/cancel`)).status).toBe(202);
    await waitFor(
      async () => ((await call(ALICE, 'GET', `/jobs/${id}`)).body.status === 'CANCELLED' ? true : undefined),
      {
        what: 'the job to be cancelled',
      },
    );
    expect((await call(ALICE, 'DELETE', `/jobs/${id}`)).status).toBe(204);
  });

  it('should run a job at the priority it asks for, and change it on Batch while it runs', async () => {
    const batch = new BatchServiceClient(
      new BatchSharedKeyCredentials(LOCAL_BATCH_ACCOUNT, LOCAL_BATCH_KEY),
      runtime.info.batchUrl!,
    );
    const run = uniqueName('prio');
    const submitted = await call(ALICE, 'POST', '/jobs', {
      name: run,
      tags: { run },
      priority: 300,
      tasks: [{ id: 'wait', command: 'sleep 30' }],
    });
    expect(submitted.status).toBe(202);
    const id = String(submitted.body.id);
    expect(submitted.body.priority).toBe(300);
    const later = await call(ALICE, 'POST', '/jobs', {
      name: run,
      tags: { run },
      tasks: [{ id: 'quick', command: 'true' }],
    });
    const byPriority = async () =>
      (await call(ALICE, 'GET', `/jobs?sort=priority&tag=${encodeURIComponent(`run=${run}`)}`)).body
        .items as Array<{
        id: string;
      }>;
    expect((await byPriority()).map((j) => j.id)).toEqual([id, later.body.id]);
    await waitFor(
      async () => ((await call(ALICE, 'GET', `/jobs/${id}`)).body.status === 'RUNNING' ? true : undefined),
      {
        timeoutMs: 60_000,
        what: 'the job to run',
      },
    );
    expect((await batch.job.get(id)).priority).toBe(300);

    const changed = await call(ALICE, 'PATCH', `/jobs/${id}`, { priority: -20 });
    expect(changed.status).toBe(200);
    expect(changed.body.priority).toBe(-20);
    expect((await batch.job.get(id)).priority).toBe(-20);
    expect((await call(ALICE, 'GET', `/jobs/${id}`)).body.priority).toBe(-20);
    expect((await byPriority()).map((j) => j.id)).toEqual([later.body.id, id]);
    const sideways = await call(ALICE, 'GET', '/jobs?sort=sideways');
    expect(sideways.status).toBe(400);
    expect((sideways.body as Problem).errors!.map((e) => e.path)).toEqual(['sort']);

    // Bad input names the field; someone else's job is missing; nothing changes.
    const tooHigh = await call(ALICE, 'PATCH', `/jobs/${id}`, { priority: 5000 });
    expect(tooHigh.status).toBe(400);
    expect((tooHigh.body as Problem).errors!.map((e) => e.path)).toEqual(['priority']);
    expect((await call(ALICE, 'PATCH', `/jobs/${id}`, { priority: 1, owner: 'bob' })).status).toBe(400);
    expect((await call(ALICE, 'PATCH', `/jobs/${id}`, '{"priority":')).status).toBe(400);
    expect((await call(BOB, 'PATCH', `/jobs/${id}`, { priority: 999 })).status).toBe(404);
    expect((await batch.job.get(id)).priority).toBe(-20);

    await call(ALICE, 'POST', `/jobs/${id}/cancel`);
    await waitFor(
      async () => ((await call(ALICE, 'GET', `/jobs/${id}`)).body.status === 'CANCELLED' ? true : undefined),
      {
        timeoutMs: 60_000,
        what: 'the job to be cancelled',
      },
    );
    const ended = await call(ALICE, 'PATCH', `/jobs/${id}`, { priority: 1 });
    expect(ended.status).toBe(409);
    expect((ended.body as Problem).code).toBe('JOB_ENDED');
  });
});

/* eslint-disable @typescript-eslint/require-await -- fakes keep the async signatures of what they stand in for, so a throw becomes a rejection as it does in the real store */
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.js';
import type { ComputeBackend, PoolInfo, PoolSpec } from '../../../shared/compute/compute.js';
import { getServices, setServices } from '../../../shared/composition.js';
import { noTelemetry } from '../../../shared/telemetry.js';
import { InboxApi } from '../../../shared/jobs/inboxApi.js';
import { JobsApi } from '../../../shared/jobs/jobsApi.js';
import { PoolsApi } from '../../../shared/jobs/poolsApi.js';
import { SubscriptionsApi } from '../../../shared/notifications/subscriptionsApi.js';
import { jobsGet } from '../../../functions/jobsGet.js';
import { jobsList } from '../../../functions/jobsList.js';
import { jobsSubmit } from '../../../functions/jobsSubmit.js';
import { jobsCancel } from '../../../functions/jobsCancel.js';
import { jobsPause } from '../../../functions/jobsPause.js';
import { jobsResume } from '../../../functions/jobsResume.js';
import { poolsCreate } from '../../../functions/poolsCreate.js';
import { inboxUploadUrl } from '../../../functions/inboxUploadUrl.js';
import { me } from '../../../functions/me.js';
import { filesDelete } from '../../../functions/filesDelete.js';
import { filesGet } from '../../../functions/filesGet.js';
import { filesList } from '../../../functions/filesList.js';
import { filesUploadUrl } from '../../../functions/filesUploadUrl.js';
import { UserFiles } from '../../../shared/jobs/userFiles.js';
import { Secrets } from '../../../shared/jobs/secrets.js';
import { FileSecrets } from '../../../shared/adapters/fileSecrets.js';
import { secretsPut } from '../../../functions/secretsPut.js';
import { secretsList } from '../../../functions/secretsList.js';
import { secretsDelete } from '../../../functions/secretsDelete.js';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobContainer } from '../../support/memoryBlobs.js';
import { dashboardRoles } from '../../../functions/dashboardRoles.js';
import type { JobOrchestrations } from '../../../shared/adapters/durableOrchestrations.js';
import type { JobFiles } from '../../../shared/jobs/jobFiles.js';
import type { JobCleanup } from '../../../shared/jobs/jobCleanup.js';
import type { InboxIntake } from '../../../shared/jobs/inboxIntake.js';
import type { JobRunner } from '../../../shared/jobs/jobRunner.js';
import type { JobSignal } from '../../../shared/orchestration/signals.js';
import { StatusRecorder } from '../../../shared/jobs/statusRecorder.js';
import type { TaskAdditions } from '../../../shared/jobs/taskAdditions.js';
import { JobControls } from '../../../shared/jobs/jobControls.js';
import { TaskSignals } from '../../../shared/jobs/taskSignals.js';
import { JobFeeds } from '../../../shared/jobs/jobFeeds.js';
import { JobStreams } from '../../../shared/jobs/jobStreams.js';
import { jobsEvents } from '../../../functions/jobsEvents.js';
import { eventsStream } from '../../../functions/eventsStream.js';
import { OwnerStreams } from '../../../shared/jobs/ownerStreams.js';
import { MemoryDeliveryStore, MemoryJobStore, MemorySubscriptionStore } from '../../support/memoryStores.js';
import { Notifier } from '../../../shared/notifications/notifier.js';

const ALICE = 'alice-token-0123456789';
const BOB = 'bob-token-0123456789';
const OPS = 'ops-token-0123456789';

/** Pools in memory: the only part of the compute backend these handlers reach. */
class MemoryPools implements Pick<
  ComputeBackend,
  'listPools' | 'getPool' | 'createPool' | 'resizePool' | 'deletePool'
> {
  readonly pools = new Map<string, PoolInfo>();
  async listPools() {
    return [...this.pools.values()];
  }
  async getPool(id: string) {
    return this.pools.get(id);
  }
  async createPool(spec: PoolSpec) {
    this.pools.set(spec.id, {
      id: spec.id,
      vmSize: spec.vmSize,
      state: 'active',
      allocationState: 'steady',
      dedicatedNodes: spec.dedicatedNodes,
      targetDedicatedNodes: spec.dedicatedNodes,
      resizeErrors: [],
      lowPriorityNodes: 0,
      targetLowPriorityNodes: 0,
      slotsPerNode: spec.slotsPerNode ?? 1,
    });
  }
  async resizePool() {}
  async deletePool(id: string) {
    this.pools.delete(id);
  }
}

let store: MemoryJobStore;
let pools: MemoryPools;

/** Orchestrations in memory: the handlers only start them and signal them. */
class MemoryOrchestrations implements JobOrchestrations {
  readonly started: string[] = [];
  readonly raised: Array<{ jobId: string; signal: JobSignal }> = [];
  async start(jobId: string) {
    if (!this.started.includes(jobId)) this.started.push(jobId);
  }
  async raise(jobId: string, signal: JobSignal) {
    this.raised.push({ jobId, signal });
  }
  async state(jobId: string) {
    return this.started.includes(jobId) ? ('running' as const) : ('missing' as const);
  }
  async running() {
    return false;
  }
  async purge() {
    return false;
  }
}
let orchestrations: MemoryOrchestrations;
let uploads: MemoryBlobContainer;
const secretsDir = mkdtempSync(join(tmpdir(), 'cloudjobs-secrets-'));
let secretsFile: string;
let secretsFiles = 0;

beforeEach(() => {
  orchestrations = new MemoryOrchestrations();
  uploads = new MemoryBlobContainer('uploads');
  const config = loadConfig({
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    BATCH_ACCOUNT_URL: 'http://127.0.0.1:1',
    CLOUDJOBS_API_TOKENS: `alice=${ALICE},bob=${BOB},ops:admin=${OPS}`,
    CLOUDJOBS_MAX_BODY_BYTES: '4096',
  });
  store = new MemoryJobStore();
  pools = new MemoryPools();
  secretsFile = join(secretsDir, `secrets-${++secretsFiles}.json`);
  const secrets = new Secrets(new FileSecrets(secretsFile));
  const jobs = new JobsApi({
    store,
    limits: config.limits,
    defaultPool: 'cpu',
    defaultLogsContainer: 'job-logs',
    secrets,
  });
  const subscriptionStore = new MemorySubscriptionStore();
  const deliveries = new MemoryDeliveryStore();
  setServices({
    config,
    telemetry: noTelemetry,
    healthProbes: [],
    compute: pools as unknown as ComputeBackend,
    store,
    jobs,
    pools: new PoolsApi(pools as unknown as ComputeBackend),
    subscriptions: new SubscriptionsApi({ store: subscriptionStore, deliveries, jobs }),
    notifier: new Notifier({
      jobs: store,
      subscriptions: subscriptionStore,
      deliveries,
      webhooks: { post: async () => ({ outcome: 'delivered', statusCode: 204, durationMs: 1 }) },
      settings: { retryScheduleSeconds: [1], attemptTimeoutMs: 1000, backstopMs: 60_000 },
    }),
    inbox: new InboxApi(
      {
        uploadUrl: async (blobName, expiresOn) => ({
          url: `https://acct.blob.core.windows.net/job-inbox/${blobName}?sig=x`,
          container: 'job-inbox',
          blobName,
          expiresOn: expiresOn.toISOString(),
        }),
      },
      15,
    ),
    userFiles: new UserFiles({
      container: uploads,
      signer: {
        uploadUrl: async (blobName, expiresOn) => ({
          url: `https://acct.blob.core.windows.net/uploads/${blobName}?sig=x`,
          container: 'uploads',
          blobName,
          expiresOn: expiresOn.toISOString(),
        }),
      },
      lifetimeMinutes: 60,
    }),
    secrets,
    // The HTTP handlers under test start orchestrations; the rest runs in activities, not here.
    orchestrations: () => orchestrations,
    statuses: new StatusRecorder(store),
    signals: new TaskSignals({
      statuses: new StatusRecorder(store),
      store,
      compute: pools as unknown as ComputeBackend,
      graph: () => Promise.reject(new Error('no graphs in handler tests')),
    }),
    streams: new JobStreams({
      job: (caller, id) => jobs.job(caller, id),
      store,
      feeds: new JobFeeds({ store, pollMs: 50 }),
      heartbeatMs: 1000,
      maxStreamMs: 5000,
    }),
    ownerStreams: new OwnerStreams({
      store,
      heartbeatMs: 1000,
      maxStreamMs: 300,
      pollMs: 20,
      progressMs: 100,
    }),
    runner: undefined as unknown as JobRunner,
    additions: undefined as unknown as TaskAdditions,
    controls: new JobControls({ jobs, store }),
    files: undefined as unknown as JobFiles,
    cleanup: undefined as unknown as JobCleanup,
    intake: undefined as unknown as InboxIntake,
    ensureContainers: () => Promise.resolve(),
  });
});
afterAll(() => {
  setServices(undefined);
  rmSync(secretsDir, { recursive: true, force: true });
});

function request(
  method: string,
  path: string,
  token?: string,
  body?: string,
  headers: Record<string, string> = {},
): HttpRequest {
  return new HttpRequest({
    method,
    url: `http://localhost:7071/api${path}`,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: { string: body } } : {}),
    params: {
      ...Object.fromEntries([...path.matchAll(/\/jobs\/([^/?]+)/g)].map((m) => ['id', m[1]!])),
      ...(/^\/files\/(?!upload-url)/.test(path)
        ? { path: decodeURIComponent(path.slice(7).split('?')[0]!) }
        : {}),
      ...(/^\/secrets\/./.test(path) ? { name: decodeURIComponent(path.slice('/secrets/'.length)) } : {}),
    },
  });
}

const context = () =>
  new InvocationContext({ invocationId: 'unit', functionName: 'test', logHandler: () => undefined });
const bodyOf = (response: HttpResponseInit) =>
  (response.jsonBody ?? JSON.parse(response.body as string)) as Record<string, unknown> & {
    errors?: Array<{ path: string }>;
  };

const text = async (body: unknown) => {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString();
};

describe('HTTP handlers in process', () => {
  it('should submit a job as the token’s owner and answer 202 with its location', async () => {
    const response = await jobsSubmit(
      request('POST', '/jobs', ALICE, JSON.stringify({ name: 'j', tasks: [{ id: 'a', command: 'echo' }] })),
      context(),
    );
    expect(response.status).toBe(202);
    const body = bodyOf(response);
    expect(body).toMatchObject({ owner: 'alice', pool: 'cpu', status: 'PENDING' });
    expect(response.headers).toMatchObject({ Location: `/api/jobs/${String(body.id)}` });
    expect(store.jobs.size).toBe(1);
    expect(orchestrations.started).toEqual([body.id]);
  });

  it('should ask the orchestration to cancel, pause and resume, and refuse what cannot be', async () => {
    const id = String(
      bodyOf(
        await jobsSubmit(
          request(
            'POST',
            '/jobs',
            ALICE,
            JSON.stringify({ name: 'j', tasks: [{ id: 'a', command: 'echo' }] }),
          ),
          context(),
        ),
      ).id,
    );
    expect((await jobsPause(request('POST', `/jobs/${id}/pause`, ALICE), context())).status).toBe(202);
    const notPaused = await jobsResume(request('POST', `/jobs/${id}/resume`, ALICE), context());
    expect(notPaused.status).toBe(409);
    expect(bodyOf(notPaused)).toMatchObject({ code: 'JOB_NOT_PAUSED' });
    expect((await jobsCancel(request('POST', `/jobs/${id}/cancel`, BOB), context())).status).toBe(404);
    expect((await jobsCancel(request('POST', `/jobs/${id}/cancel`, ALICE), context())).status).toBe(202);
    expect(orchestrations.raised).toEqual([
      { jobId: id, signal: { type: 'pause', by: 'alice' } },
      { jobId: id, signal: { type: 'cancel', by: 'alice' } },
    ]);
    await store.recordStatus(id, {
      to: 'CANCELLED',
      condition: 'CANCELLED_BY_USER',
      message: 'x',
      at: new Date().toISOString(),
    });
    const ended = await jobsCancel(request('POST', `/jobs/${id}/cancel`, ALICE), context());
    expect(ended.status).toBe(409);
    expect(bodyOf(ended)).toMatchObject({ code: 'JOB_ENDED' });
  });

  it.each([
    ['no token', undefined, '{}', 401, 'UNAUTHENTICATED'],
    ['malformed JSON', ALICE, '{"name":', 400, 'INVALID_JSON'],
    [
      'an unknown field',
      ALICE,
      '{"name":"j","tasks":[{"id":"a","command":"x"}],"x":1}',
      400,
      'VALIDATION_FAILED',
    ],
    [
      'a body over the limit',
      ALICE,
      JSON.stringify({ name: 'j', description: 'x'.repeat(5000), tasks: [] }),
      413,
      'BODY_TOO_LARGE',
    ],
  ])(
    'should refuse %s with a problem document and store nothing',
    async (_case, token, body, status, code) => {
      const response = await jobsSubmit(request('POST', '/jobs', token, body), context());
      expect(response.status).toBe(status);
      expect(response.headers).toMatchObject({ 'Content-Type': 'application/problem+json' });
      expect(bodyOf(response)).toMatchObject({ status, code });
      expect(store.jobs.size).toBe(0);
    },
  );

  it('should answer another user’s job as a missing one', async () => {
    const submitted = bodyOf(
      await jobsSubmit(
        request('POST', '/jobs', ALICE, JSON.stringify({ name: 'j', tasks: [{ id: 'a', command: 'echo' }] })),
        context(),
      ),
    );
    const theirs = await jobsGet(request('GET', `/jobs/${String(submitted.id)}`, BOB), context());
    const missing = await jobsGet(request('GET', '/jobs/nope', BOB), context());
    expect(theirs.status).toBe(404);
    expect({ ...bodyOf(theirs), detail: 0, instance: 0 }).toEqual({
      ...bodyOf(missing),
      detail: 0,
      instance: 0,
    });
    expect((bodyOf(await jobsList(request('GET', '/jobs', BOB), context())).items as unknown[]).length).toBe(
      0,
    );
  });

  it('should stream a job’s events to its owner only, from where the reader left off', async () => {
    const submitted = bodyOf(
      await jobsSubmit(
        request('POST', '/jobs', ALICE, JSON.stringify({ name: 'j', tasks: [{ id: 'a', command: 'echo' }] })),
        context(),
      ),
    );
    const id = String(submitted.id);
    await store.recordStatus(id, {
      to: 'CANCELLED',
      condition: 'CANCELLED_BY_USER',
      message: 'cancelled by alice',
      at: new Date().toISOString(),
    });
    const read = async (response: HttpResponseInit) => {
      let text = '';
      for await (const chunk of response.body as AsyncIterable<Uint8Array>)
        text += Buffer.from(chunk).toString();
      return text;
    };
    const ids = (text: string) => [...text.matchAll(/^id: (.*)$/gm)].map((m) => m[1]);

    const all = await jobsEvents(request('GET', `/jobs/${id}/events`, ALICE), context());
    expect(all.status).toBe(200);
    expect(all.headers).toMatchObject({ 'Content-Type': 'text/event-stream; charset=utf-8' });
    const text = await read(all);
    expect(ids(text)).toEqual(['1.0', '2.0']);
    expect(text).toMatch(/^event: job\.status\.changed\ndata: \{"specversion":"1\.0","id":"[^"]+:2"/m);

    const rest = await jobsEvents(
      request('GET', `/jobs/${id}/events`, ALICE, undefined, { 'last-event-id': '1.0' }),
      context(),
    );
    expect(ids(await read(rest))).toEqual(['2.0']);
    const byQuery = await jobsEvents(request('GET', `/jobs/${id}/events?lastEventId=2.0`, ALICE), context());
    expect(ids(await read(byQuery))).toEqual([]);

    const theirs = await jobsEvents(request('GET', `/jobs/${id}/events`, BOB), context());
    expect(theirs.status).toBe(404);
    const bad = await jobsEvents(
      request('GET', `/jobs/${id}/events`, ALICE, undefined, { 'last-event-id': '../7' }),
      context(),
    );
    expect(bad.status).toBe(400);
    expect(bodyOf(bad).errors!.map((e) => e.path)).toEqual(['Last-Event-ID']);
  });

  it('should stream every job of the caller, and only theirs, resuming after an event id', async () => {
    const submit = async (token: string, name: string) =>
      String(
        bodyOf(
          await jobsSubmit(
            request('POST', '/jobs', token, JSON.stringify({ name, tasks: [{ id: 'a', command: 'echo' }] })),
            context(),
          ),
        ).id,
      );
    const first = await submit(ALICE, 'one');
    await submit(BOB, 'theirs');
    const second = await submit(ALICE, 'two');
    await store.recordStatus(first, {
      to: 'CANCELLED',
      condition: 'CANCELLED_BY_USER',
      message: 'stop',
      at: new Date().toISOString(),
    });
    const read = async (response: HttpResponseInit, kind = 'job.status.changed') => {
      let text = '';
      for await (const chunk of response.body as AsyncIterable<Uint8Array>)
        text += Buffer.from(chunk).toString();
      return [...text.matchAll(/^id: (.*)\nevent: (.*)\ndata: (.*)$/gm)]
        .filter(([, , event]) => event === kind)
        .map(([, id, , data]) => {
          const event = JSON.parse(data!) as { data: { jobId: string; status: string } };
          return `${id} ${event.data.jobId === first ? 'one' : event.data.jobId === second ? 'two' : 'other'} ${event.data.status}`;
        });
    };
    // From the start of the log; the stream ends at its deadline (300 ms here).
    const all = await read(await eventsStream(request('GET', '/events?lastEventId=0', ALICE), context()));
    expect(all).toEqual(['1 one PENDING', '2 two PENDING', '3 one CANCELLED']);
    const after = await read(
      await eventsStream(request('GET', '/events', ALICE, undefined, { 'last-event-id': '1' }), context()),
    );
    expect(after).toEqual(['2 two PENDING', '3 one CANCELLED']);
    const filtered = await read(
      await eventsStream(request('GET', '/events?lastEventId=0&name=two', ALICE), context()),
    );
    expect(filtered).toEqual(['2 two PENDING']);
    const cancelled = await read(
      await eventsStream(request('GET', '/events?lastEventId=0&status=CANCELLED', ALICE), context()),
    );
    expect(cancelled).toEqual(['3 one CANCELLED']);
    // Without a cursor: from now on, so nothing of the past; but the counts of each unfinished
    // job of the caller's, once (they do not move here), at the position the stream is at.
    const now = await eventsStream(request('GET', '/events', ALICE), context());
    const text = await read(now, 'job.progress');
    expect(text).toEqual(['3 two PENDING']);
    expect(await read(await eventsStream(request('GET', '/events', ALICE), context()))).toEqual([]);
    // A status filter asks for changes into that status: no counts.
    expect(
      await read(
        await eventsStream(request('GET', '/events?status=RUNNING', ALICE), context()),
        'job.progress',
      ),
    ).toEqual([]);
    // Another owner's stream: an admin's to follow, nobody else's.
    expect(
      await read(await eventsStream(request('GET', '/events?lastEventId=0&owner=alice', OPS), context())),
    ).toEqual(all);
    const nosy = await eventsStream(request('GET', '/events?owner=alice', BOB), context());
    expect(nosy.status).toBe(400);
    expect(bodyOf(nosy).errors).toEqual([
      { path: 'owner', message: 'only admins may follow other owners’ jobs' },
    ]);
    const bad = await eventsStream(request('GET', '/events?lastEventId=x&colour=red', ALICE), context());
    expect(bad.status).toBe(400);
    expect(
      bodyOf(bad)
        .errors!.map((e) => e.path)
        .sort(),
    ).toEqual(['colour', 'lastEventId']);
  });

  it('should refuse a bad query naming the parameter', async () => {
    const response = await jobsList(request('GET', '/jobs?status=DONE&limit=0', ALICE), context());
    expect(response.status).toBe(400);
    expect(
      bodyOf(response)
        .errors!.map((e) => e.path)
        .sort(),
    ).toEqual(['limit', 'status']);
  });

  it('should refuse bad tag and date filters naming each', async () => {
    const response = await jobsList(
      request(
        'GET',
        '/jobs?tag=%3Dx&createdAfter=2026-12-02T00:00:00Z&createdBefore=2026-12-01T00:00:00Z',
        ALICE,
      ),
      context(),
    );
    expect(response.status).toBe(400);
    expect(
      bodyOf(response)
        .errors!.map((e) => e.path)
        .sort(),
    ).toEqual(['createdBefore', 'tag']);
    const notATime = await jobsList(request('GET', '/jobs?createdAfter=yesterday', ALICE), context());
    expect(bodyOf(notATime).errors!.map((e) => e.path)).toEqual(['createdAfter']);
  });

  it('should list only the jobs carrying a tag, or a tag with a value', async () => {
    const submit = async (name: string, tags: Record<string, string>) =>
      jobsSubmit(
        request(
          'POST',
          '/jobs',
          ALICE,
          JSON.stringify({ name, tags, tasks: [{ id: 'a', command: 'echo' }] }),
        ),
        context(),
      );
    await submit('a', { project: 'alpha', 'a b=c': 'x' });
    await submit('b', { project: 'beta' });
    await submit('c', {});
    const names = async (query: string) =>
      (
        bodyOf(await jobsList(request('GET', `/jobs?${query}`, ALICE), context())).items as Array<{
          name: string;
        }>
      )
        .map((job) => job.name)
        .sort();
    expect(await names('tag=project')).toEqual(['a', 'b']);
    expect(await names('tag=project%3Dbeta')).toEqual(['b']);
    expect(await names(`tag=${encodeURIComponent('a b')}`)).toEqual([]);
    expect(await names('tag=toString')).toEqual([]);
  });

  it('should say who the caller is', async () => {
    expect(bodyOf(await me(request('GET', '/me', BOB), context()))).toEqual({
      owner: 'bob',
      admin: false,
      via: 'token',
    });
    expect(bodyOf(await me(request('GET', '/me', OPS), context()))).toMatchObject({
      owner: 'ops',
      admin: true,
    });
    expect((await me(request('GET', '/me', 'not-a-token-at-all'), context())).status).toBe(401);
  });

  it('should take the dashboard’s signed-in people as they are passed, their app roles mapped once', async () => {
    const current = getServices();
    setServices({
      ...current,
      config: loadConfig({
        AzureWebJobsStorage: 'UseDevelopmentStorage=true',
        BATCH_ACCOUNT_URL: 'http://127.0.0.1:1',
        WEBSITE_AUTH_ENABLED: 'True',
      }),
    });
    try {
      const call = (body: unknown) =>
        dashboardRoles(
          new HttpRequest({
            method: 'POST',
            url: 'http://localhost/api/dashboard/roles',
            headers: { 'content-type': 'application/json' },
            body: { string: JSON.stringify(body) },
          }),
          context(),
        );
      const signedIn = {
        identityProvider: 'aad',
        userId: 'u1',
        userDetails: 'carol@contoso.com',
        claims: [
          { typ: 'roles', val: 'cloudjobs.admin' },
          { typ: 'name', val: 'Carol' },
        ],
        accessToken: 'eyJ...',
      };
      expect(bodyOf(await call(signedIn))).toEqual({ roles: ['cloudjobs.admin'] });
      expect(bodyOf(await call({ ...signedIn, claims: [{ typ: 'roles', val: 'reader' }] }))).toEqual({
        roles: [],
      });
      const bad = await call({ claims: 'all of them' });
      expect(bad.status).toBe(400);
      expect(bodyOf(bad).errors!.map((e) => e.path)).toEqual(['claims']);
      // What the Static Web App then passes with each call: those roles, which make an admin.
      const principal = Buffer.from(
        JSON.stringify({
          identityProvider: 'aad',
          userId: 'u1',
          userDetails: 'Carol@Contoso.com',
          userRoles: ['anonymous', 'authenticated', 'cloudjobs.admin'],
        }),
      ).toString('base64');
      const asCarol = new HttpRequest({
        method: 'GET',
        url: 'http://localhost/api/me',
        headers: { 'x-ms-client-principal': principal },
      });
      expect(bodyOf(await me(asCarol, context()))).toEqual({
        owner: 'carol@contoso.com',
        admin: true,
        via: 'appServiceAuth',
      });
    } finally {
      setServices(current);
    }
  });

  it('should keep pool changes to admins', async () => {
    const response = await poolsCreate(
      request('POST', '/pools', ALICE, JSON.stringify({ id: 'gpu', vmSize: 'nc6', dedicatedNodes: 1 })),
      context(),
    );
    expect(response.status).toBe(403);
    expect(pools.pools.size).toBe(0);
  });

  it('should sign an inbox URL inside the caller’s folder only', async () => {
    const response = await inboxUploadUrl(request('GET', '/inbox/upload-url?file=run.yaml', BOB), context());
    expect(bodyOf(response)).toMatchObject({ blobName: 'bob/run.yaml', method: 'PUT' });
    expect(
      (await inboxUploadUrl(request('GET', '/inbox/upload-url?file=../alice/run.yaml', BOB), context()))
        .status,
    ).toBe(400);
  });

  it('should sign a file URL inside the caller’s own files only, refusing paths that climb out', async () => {
    const response = await filesUploadUrl(
      request('GET', '/files/upload-url?path=datasets%2Fa.csv', BOB),
      context(),
    );
    expect(bodyOf(response)).toMatchObject({ blobName: 'bob/datasets/a.csv', path: 'datasets/a.csv' });
    for (const path of ['../alice/a.csv', '/etc/passwd', 'a//b', './a', 'dir/', 'a\\b', '']) {
      const refused = await filesUploadUrl(
        request('GET', `/files/upload-url?path=${encodeURIComponent(path)}`, BOB),
        context(),
      );
      expect(refused.status, path).toBe(400);
      expect(bodyOf(refused).errors?.[0]?.path).toBe('path');
    }
  });

  it('should list, read (whole or a range) and remove only the caller’s own files', async () => {
    await uploads.write('alice/data/a.csv', 'x,y\n1,2\n', 'text/csv');
    await uploads.write('alice/data/b.csv', 'b', 'text/csv');
    await uploads.write('bob/data/a.csv', 'bob’s', 'text/csv');
    const listed = bodyOf(await filesList(request('GET', '/files?prefix=data/', ALICE), context()));
    expect((listed.items as Array<{ path: string; source: string }>).map((f) => f.source)).toEqual([
      'files://data/a.csv',
      'files://data/b.csv',
    ]);
    const paged = bodyOf(await filesList(request('GET', '/files?limit=1', ALICE), context()));
    expect(paged.items).toHaveLength(1);
    expect(paged.continuation).toBeDefined();

    const whole = await filesGet(request('GET', '/files/data/a.csv', ALICE), context());
    expect(whole.status).toBe(200);
    expect(await text(whole.body)).toBe('x,y\n1,2\n');
    const part = await filesGet(
      request('GET', '/files/data/a.csv', ALICE, undefined, { range: 'bytes=4-6' }),
      context(),
    );
    expect(part.status).toBe(206);
    expect((part.headers as Record<string, string>)['Content-Range']).toBe('bytes 4-6/8');
    expect(await text(part.body)).toBe('1,2');
    const past = await filesGet(
      request('GET', '/files/data/a.csv', ALICE, undefined, { range: 'bytes=99-' }),
      context(),
    );
    expect(past.status).toBe(416);
    // An empty file has no range to give: it comes whole, nothing, with a 200.
    await uploads.write('alice/data/empty.csv', '', 'text/csv');
    const empty = await filesGet(
      request('GET', '/files/data/empty.csv', ALICE, undefined, { range: 'bytes=0-99' }),
      context(),
    );
    expect(empty.status).toBe(200);
    expect(await text(empty.body)).toBe('');

    // Bob's path names his own folder: Alice's file of the same name is not his to read or remove.
    expect(bodyOf(await filesList(request('GET', '/files', BOB), context())).items).toHaveLength(1);
    expect((await filesGet(request('GET', '/files/data/b.csv', BOB), context())).status).toBe(404);
    expect((await filesDelete(request('DELETE', '/files/data/b.csv', BOB), context())).status).toBe(404);
    expect((await filesGet(request('GET', '/files/..%2Falice%2Fdata%2Fb.csv', BOB), context())).status).toBe(
      400,
    );

    expect(bodyOf(await filesDelete(request('DELETE', '/files/data/', ALICE), context()))).toEqual({
      removed: 3,
    });
    expect([...uploads.blobs.keys()]).toEqual(['bob/data/a.csv']);
    expect((await filesDelete(request('DELETE', '/files/data/', ALICE), context())).status).toBe(404);
  });

  it('should keep each owner’s secrets write-only and their own, and check jobs naming them', async () => {
    const value = 'hunter2-the-secret-value';
    const put = await secretsPut(
      request('PUT', '/secrets/db-password', ALICE, JSON.stringify({ value })),
      context(),
    );
    expect(put.status).toBe(200);
    expect(bodyOf(put)).toMatchObject({ name: 'db-password', ref: { secretRef: 'db-password' } });
    expect(JSON.stringify(bodyOf(put))).not.toContain(value);
    // The file holds it for its user alone.
    expect(readFileSync(secretsFile, 'utf8')).toContain(value);
    expect(statSync(secretsFile).mode & 0o077).toBe(0);

    const listed = await secretsList(request('GET', '/secrets', ALICE), context());
    expect(bodyOf(listed).items).toEqual([expect.objectContaining({ name: 'db-password' })]);
    expect(JSON.stringify(bodyOf(listed))).not.toContain(value);
    expect(bodyOf(await secretsList(request('GET', '/secrets', BOB), context())).items).toEqual([]);

    // Bad input names the field, and changes nothing.
    const refusals: Array<[string, string | undefined, string]> = [
      ['/secrets/DB_PASSWORD', JSON.stringify({ value }), 'name'],
      ['/secrets/-x', JSON.stringify({ value }), 'name'],
      ['/secrets/db-password', JSON.stringify({ value, note: 'x' }), 'note'],
      ['/secrets/db-password', JSON.stringify({ value: '' }), 'value'],
      ['/secrets/db-password', '{"value": ', '(body)'],
      ['/secrets/db-password', undefined, '(body)'],
    ];
    for (const [path, body, field] of refusals) {
      const refused = await secretsPut(request('PUT', path, ALICE, body), context());
      expect(refused.status, `${path} ${body}`).toBe(400);
      expect(bodyOf(refused).errors?.[0]?.path, `${path} ${body}`).toBe(field);
    }
    expect(readFileSync(secretsFile, 'utf8')).toContain(value);

    const spec = (env: Record<string, unknown>, taskEnv?: Record<string, unknown>) =>
      JSON.stringify({
        name: 'uses-secret',
        env,
        tasks: [{ id: 'a', command: 'echo', ...(taskEnv ? { env: taskEnv } : {}) }],
      });
    const submitted = await jobsSubmit(
      request('POST', '/jobs', ALICE, spec({ TOKEN: { secretRef: 'db-password' }, PLAIN: 'x' })),
      context(),
    );
    expect(submitted.status).toBe(202);
    const job = bodyOf(
      await jobsGet(request('GET', `/jobs/${String(bodyOf(submitted).id)}`, ALICE), context()),
    );
    expect(job.spec).toMatchObject({ env: { TOKEN: { secretRef: 'db-password' } } });
    expect(JSON.stringify(job)).not.toContain(value);

    // Bob has no secret of that name: Alice's is not his to name.
    const bobs = await jobsSubmit(
      request('POST', '/jobs', BOB, spec({}, { TOKEN: { secretRef: 'db-password' } })),
      context(),
    );
    expect(bobs.status).toBe(400);
    expect(bodyOf(bobs)).toMatchObject({ code: 'SECRET_NOT_FOUND' });
    expect(bodyOf(bobs).errors?.map((e) => e.path)).toEqual(['tasks[0].env.TOKEN.secretRef']);
    const malformed = await jobsSubmit(
      request('POST', '/jobs', ALICE, spec({ TOKEN: { secretRef: 'db-password', value: 'x' } })),
      context(),
    );
    expect(malformed.status).toBe(400);
    expect(bodyOf(malformed).errors?.[0]?.path).toMatch(/^env\.TOKEN/);
    expect(store.jobs.size).toBe(1);

    expect((await secretsDelete(request('DELETE', '/secrets/db-password', BOB), context())).status).toBe(404);
    expect((await secretsDelete(request('DELETE', '/secrets/db-password', ALICE), context())).status).toBe(
      204,
    );
    expect((await secretsDelete(request('DELETE', '/secrets/db-password', ALICE), context())).status).toBe(
      404,
    );
    expect(readFileSync(secretsFile, 'utf8')).not.toContain(value);
    const after = await jobsSubmit(
      request('POST', '/jobs', ALICE, spec({ TOKEN: { secretRef: 'db-password' } })),
      context(),
    );
    expect(bodyOf(after).errors?.map((e) => e.path)).toEqual(['env.TOKEN.secretRef']);
  });

  it('should turn an unexpected failure into a generic 500 with the invocation id', async () => {
    store.getJob = () => Promise.reject(new Error('socket hang up: AccountKey=secret'));
    const response = await jobsGet(request('GET', '/jobs/any', ALICE), context());
    expect(response.status).toBe(500);
    const body = JSON.stringify(bodyOf(response));
    expect(body).toContain('"invocationId":"unit"');
    expect(body).not.toContain('AccountKey');
  });
});

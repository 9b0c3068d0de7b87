import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.js';
import { getServices, setServices } from '../../../shared/composition.js';
import { jobsGet } from '../../../functions/jobsGet.js';
import { jobsList } from '../../../functions/jobsList.js';
import { jobsSubmit } from '../../../functions/jobsSubmit.js';
import { jobsCancel } from '../../../functions/jobsCancel.js';
import { jobsPause } from '../../../functions/jobsPause.js';
import { jobsResume } from '../../../functions/jobsResume.js';
import { poolsCreate } from '../../../functions/poolsCreate.js';
import { me } from '../../../functions/me.js';
import { dashboardRoles } from '../../../functions/dashboardRoles.js';
import { jobsEvents } from '../../../functions/jobsEvents.js';
import { eventsStream } from '../../../functions/eventsStream.js';
import {
  ALICE,
  BOB,
  OPS,
  bodyOf,
  context,
  request,
  useHandlerServices,
} from '../../support/handlerServices.js';

const world = useHandlerServices();

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
    expect(world.store.jobs.size).toBe(1);
    expect(world.orchestrations.started).toEqual([body.id]);
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
    expect(world.orchestrations.raised).toEqual([
      { jobId: id, signal: { type: 'pause', by: 'alice' } },
      { jobId: id, signal: { type: 'cancel', by: 'alice' } },
    ]);
    await world.store.recordStatus(id, {
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
      expect(world.store.jobs.size).toBe(0);
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
    await world.store.recordStatus(id, {
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
    await world.store.recordStatus(first, {
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
    expect(world.pools.pools.size).toBe(0);
  });

  it('should turn an unexpected failure into a generic 500 with the invocation id', async () => {
    world.store.getJob = () => Promise.reject(new Error('socket hang up: AccountKey=secret'));
    const response = await jobsGet(request('GET', '/jobs/any', ALICE), context());
    expect(response.status).toBe(500);
    const body = JSON.stringify(bodyOf(response));
    expect(body).toContain('"invocationId":"unit"');
    expect(body).not.toContain('AccountKey');
  });
});

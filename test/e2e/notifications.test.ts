import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { deliveryViewSchema, subscriptionViewSchema } from '../../shared/http/openapi.js';
import { freePort } from '../support/freePort.js';
import { jobClient } from '../support/jobClient.js';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';
import { verifies, WebhookReceiver } from '../support/webhookReceiver.js';

// One user per test, so concurrent tests' standing subscriptions never see each other's jobs.
const USERS = [
  'alice',
  'mallory',
  'carol',
  'dave',
  'erin',
  'frank',
  'grace',
  'heidi',
  'ivan',
  'judy',
] as const;
const token = (user: string) => `${user}-token-0123456789abcdef`;

const cloudEventSchema = z.strictObject({
  specversion: z.literal('1.0'),
  id: z.string(),
  source: z.string(),
  type: z.literal('cloudjobs.job.status.changed'),
  subject: z.string(),
  time: z.iso.datetime(),
  datacontenttype: z.literal('application/json'),
  data: z.looseObject({
    jobId: z.string(),
    name: z.string(),
    owner: z.string(),
    previousStatus: z.string().optional(),
    status: z.string(),
    sequence: z.number().int(),
    taskCount: z.number().int(),
    taskCounts: z.record(z.string(), z.number().int()),
  }),
});

const taskEventSchema = z.strictObject({
  specversion: z.literal('1.0'),
  id: z.string(),
  source: z.string(),
  type: z.literal('cloudjobs.task.status.changed'),
  subject: z.string(),
  time: z.iso.datetime(),
  datacontenttype: z.literal('application/json'),
  data: z.strictObject({
    jobId: z.string(),
    name: z.string(),
    owner: z.string(),
    taskId: z.string(),
    previousStatus: z.string(),
    status: z.string(),
    attempt: z.number().int(),
    exitCode: z.number().int().optional(),
    failure: z.strictObject({ code: z.string(), message: z.string() }).optional(),
    sequence: z.number().int(),
    links: z.strictObject({ job: z.string(), stdout: z.string(), stderr: z.string() }),
  }),
});

describe.concurrent('notifications on the embedded runtime', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: {
      CLOUDJOBS_API_TOKENS: USERS.map((user) => `${user}=${token(user)}`).join(','),
      CLOUDJOBS_TABLE_PREFIX: uniqueName('n'),
      // Three attempts a second apart: the schedule's shape, at a test's pace.
      CLOUDJOBS_DELIVERY_RETRY_SCHEDULE: '1,1',
    },
  });
  const receiver = new WebhookReceiver();
  /** The job events accepted at `path`, parsed. */
  const accepted = (path: string) =>
    receiver.acceptedAt(path).map((r) => ({ ...cloudEventSchema.parse(JSON.parse(r.body)), received: r }));
  beforeAll(() => receiver.start());
  afterAll(() => receiver.stop());

  const client = (user: (typeof USERS)[number]) => jobClient(runtime, token(user));
  const [alice, mallory, carol, dave, erin, frank, grace, heidi, ivan, judy] = [
    client('alice'),
    client('mallory'),
    client('carol'),
    client('dave'),
    client('erin'),
    client('frank'),
    client('grace'),
    client('heidi'),
    client('ivan'),
    client('judy'),
  ];
  const hello = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    tasks: [{ id: 'a', command: 'echo a' }],
    ...extra,
  });

  const subscribe = async (user: typeof alice, body: Record<string, unknown>) => {
    const answer = await user.json<unknown>('POST', '/subscriptions', body);
    expect(answer.status, answer.text).toBe(201);
    return subscriptionViewSchema.strict().parse(answer.body);
  };
  const deliveries = async (user: typeof alice, subscriptionId: string, query = '') => {
    const answer = await user.json<{ items: unknown[] }>(
      'GET',
      `/subscriptions/${subscriptionId}/deliveries${query}`,
    );
    expect(answer.status, answer.text).toBe(200);
    return answer.body.items.map((item) => deliveryViewSchema.strict().parse(item));
  };
  /** Waits until `path` has accepted `count` events of `jobId`. */
  const acceptedOf = (path: string, jobId: string, count: number) =>
    waitFor(
      () => {
        const events = accepted(path).filter((e) => e.data.jobId === jobId);
        return events.length >= count ? events : undefined;
      },
      { timeoutMs: 60_000, what: `${count} events of ${jobId} at ${path}` },
    );

  it('should deliver every state of a job, signed and in order, to its owner’s subscription only', async () => {
    const mine = await subscribe(alice, { url: receiver.url('/alice') });
    const theirs = await subscribe(mallory, { url: receiver.url('/mallory') });
    const id = await alice.submit(hello('notified'));
    await alice.until(id, ['FINISHED']);
    const history = await alice.history(id);
    const events = await acceptedOf('/alice', id, history.length);

    expect(events.map((e) => e.data.sequence)).toEqual(history.map((h) => h.sequence));
    expect(events.map((e) => e.data.status)).toEqual(history.map((h) => h.status));
    for (const [i, event] of events.entries()) {
      const { received } = event;
      expect(received.contentType).toBe('application/cloudevents+json');
      expect(received.id).toBe(`${id}:${history[i]!.sequence}`);
      expect(event).toMatchObject({ id: received.id, source: `/jobs/${id}`, time: history[i]!.at });
      expect(event.data).toMatchObject({ jobId: id, name: 'notified', owner: 'alice', taskCount: 1 });
      expect(verifies(mine.secret!, received)).toBe(true);
      // Signed with the other subscription's secret, it would not verify.
      expect(verifies(theirs.secret!, received)).toBe(false);
    }
    expect(events.at(-1)!.data.taskCounts).toMatchObject({ SUCCEEDED: 1 });

    const recorded = await deliveries(alice, mine.id, `?jobId=${id}`);
    expect(recorded.map((d) => [d.sequence, d.status])).toEqual(
      history.map((h) => [h.sequence, 'delivered']),
    );
    expect(recorded[0]!.attempts).toEqual([
      expect.objectContaining({ outcome: 'delivered', statusCode: 204 }),
    ]);
    expect(receiver.requests.filter((r) => r.path === '/mallory')).toEqual([]);
    expect((await mallory.call('GET', `/subscriptions/${mine.id}/deliveries`)).status).toBe(404);

    // Deleting the job forgets what was delivered of it; the subscription stays.
    expect((await alice.call('DELETE', `/jobs/${id}`)).status).toBe(204);
    expect(await deliveries(alice, mine.id, `?jobId=${id}`)).toEqual([]);
    expect((await alice.call('GET', `/subscriptions/${mine.id}`)).status).toBe(200);
  });

  it('should sign with both secrets for a day after a rotation, so a receiver can switch over', async () => {
    const subscription = await subscribe(ivan, { url: receiver.url('/ivan') });
    const rotated = await ivan.json<{ secret: string; previousSignsUntil: string }>(
      'POST',
      `/subscriptions/${subscription.id}/secret`,
    );
    expect(rotated.status, rotated.text).toBe(201);
    expect(rotated.body.secret).not.toBe(subscription.secret);
    expect((await mallory.call('POST', `/subscriptions/${subscription.id}/secret`)).status).toBe(404);
    const shown = await ivan.json<unknown>('GET', `/subscriptions/${subscription.id}`);
    expect(subscriptionViewSchema.strict().parse(shown.body)).toMatchObject({
      previousSecretSignsUntil: rotated.body.previousSignsUntil,
    });
    expect(shown.text).not.toContain('whsec_');

    const id = await ivan.submit(hello('rotated'));
    await ivan.until(id, ['FINISHED']);
    const events = await acceptedOf('/ivan', id, (await ivan.history(id)).length);
    for (const { received } of events) {
      expect(received.signature.split(' ')).toHaveLength(2);
      expect(verifies(rotated.body.secret, received)).toBe(true);
      expect(verifies(subscription.secret!, received)).toBe(true);
    }
  });

  it('should reach `npm run receive`, which checks the signatures and prints every state', async () => {
    const port = await freePort();
    const subscription = await subscribe(judy, { url: `http://127.0.0.1:${port}/hook` });
    // As the README has it: the receiver started with the secret the subscription answered.
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, 'dist/infra/local/receive.js'),
        '--port',
        String(port),
        '--secret',
        subscription.secret!,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let printed = '';
    child.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (printed += chunk.toString('utf8')));
    try {
      await waitFor(() => (printed.includes('receiving webhooks at') ? true : undefined), {
        what: 'the receiver to listen',
      });
      const id = await judy.submit(hello('received'));
      await judy.until(id, ['FINISHED']);
      const history = await judy.history(id);
      const lines = await waitFor(
        () => {
          const mine = printed.split('\n').filter((line) => line.includes(`(${id}) #`));
          return mine.length >= history.length ? mine : undefined;
        },
        { timeoutMs: 60_000, what: `every state of ${id} printed by the receiver` },
      );
      expect(lines.map((line) => line.split(' ')[1])).toEqual(history.map(() => '✓'));
      expect(lines.map((line) => /#\d+: (?:\S+ → )?(\S+)/.exec(line)?.[1])).toEqual(
        history.map((h) => h.status),
      );
      expect(printed).not.toContain('✗');
    } finally {
      child.kill();
    }
  });

  it('should keep order through a receiver that fails its first attempts', async () => {
    receiver.answer('/flaky', [500, 503]);
    const subscription = await subscribe(carol, { url: receiver.url('/flaky') });
    const id = await carol.submit(hello('flaky'));
    await carol.until(id, ['FINISHED']);
    const history = await carol.history(id);
    const events = await acceptedOf('/flaky', id, history.length);
    expect(events.map((e) => e.data.sequence)).toEqual(history.map((h) => h.sequence));
    // Nothing after the first event was even tried before the first was delivered.
    const tried = receiver.requests
      .filter((r) => r.path === '/flaky')
      .map((r) => [cloudEventSchema.parse(JSON.parse(r.body)).data.sequence, r.answered]);
    expect(tried.slice(0, 3)).toEqual([
      [1, 500],
      [1, 503],
      [1, 204],
    ]);
    const first = (await deliveries(carol, subscription.id, `?jobId=${id}`))[0]!;
    expect(first.attempts.map((a) => [a.outcome, a.statusCode])).toEqual([
      ['failed', 500],
      ['failed', 503],
      ['delivered', 204],
    ]);
  });

  it('should dead-letter what a receiver down past the retry budget misses, and deliver it on a manual retry', async () => {
    receiver.answer('/down', [], 503);
    const subscription = await subscribe(dave, { url: receiver.url('/down'), statuses: ['FINISHED'] });
    const [id, other] = await Promise.all([dave.submit(hello('down')), dave.submit(hello('down-too'))]);
    await dave.until(id, ['FINISHED']);
    await dave.until(other, ['FINISHED']);
    const deadLetters = await waitFor(
      async () => {
        const dead = await deliveries(dave, subscription.id, '?status=dead-lettered');
        return dead.length === 2 ? dead : undefined;
      },
      { timeoutMs: 60_000, what: 'both FINISHED deliveries to be dead-lettered' },
    );
    const dead = deadLetters.find((d) => d.jobId === id)!;
    expect(dead.attempts.map((a) => a.statusCode)).toEqual([503, 503, 503]);
    expect(dead.nextAttemptAt).toBeUndefined();

    // Trying the dead letters again while the endpoint is still down stops at the first failure.
    type Retried = { delivered: unknown[]; failed?: unknown; more: boolean };
    const retryAll = (query = '') =>
      dave.json<Retried>('POST', `/subscriptions/${subscription.id}/deliveries/retry${query}`);
    const tries = receiver.requests.filter((r) => r.path === '/down').length;
    const stillDown = await retryAll(`?jobId=${other}`);
    expect(stillDown.status, stillDown.text).toBe(200);
    expect(stillDown.body).toMatchObject({ delivered: [], more: true });
    expect(deliveryViewSchema.strict().parse(stillDown.body.failed)).toMatchObject({
      jobId: other,
      status: 'dead-lettered',
      attempts: [{}, {}, {}, { statusCode: 503, manual: true }],
    });
    expect(receiver.requests.filter((r) => r.path === '/down')).toHaveLength(tries + 1);

    receiver.answer('/down', [], 204);
    const retried = await dave.json<unknown>('POST', dead.links.retry.replace(/^\/api/, ''));
    expect(retried.status, retried.text).toBe(200);
    expect(deliveryViewSchema.strict().parse(retried.body)).toMatchObject({
      status: 'delivered',
      attempts: [{}, {}, {}, { outcome: 'delivered', statusCode: 204, manual: true }],
    });
    expect(
      accepted('/down')
        .filter((e) => e.data.jobId === id)
        .map((e) => e.data.status),
    ).toEqual(['FINISHED']);
    const unknown = await dave.call('POST', `/subscriptions/${subscription.id}/deliveries/${id}:99/retry`);
    expect(unknown.status).toBe(404);
    expect((await erin.call('POST', dead.links.retry.replace(/^\/api/, ''))).status).toBe(404);

    // The rest of the dead letters, all at once, now that the endpoint is back.
    expect((await erin.call('POST', `/subscriptions/${subscription.id}/deliveries/retry`)).status).toBe(404);
    expect((await retryAll('?limit=0')).status).toBe(400);
    const rest = await retryAll();
    expect(rest.status, rest.text).toBe(200);
    expect(rest.body.more).toBe(false);
    expect(rest.body.failed).toBeUndefined();
    expect(rest.body.delivered.map((d) => deliveryViewSchema.strict().parse(d).jobId)).toEqual([other]);
    expect(
      accepted('/down')
        .filter((e) => e.data.jobId === other)
        .map((e) => e.data.status),
    ).toEqual(['FINISHED']);
    expect(await deliveries(dave, subscription.id, '?status=dead-lettered')).toEqual([]);
  });

  it('should disable a subscription whose endpoint answers 410 Gone, until its owner turns it on again', async () => {
    receiver.answer('/gone', [], 410);
    const subscription = await subscribe(erin, { url: receiver.url('/gone') });
    const first = await erin.submit(hello('gone'));
    await erin.until(first, ['FINISHED']);
    const disabled = await waitFor(
      async () => {
        const view = subscriptionViewSchema
          .strict()
          .parse((await erin.json<unknown>('GET', `/subscriptions/${subscription.id}`)).body);
        return view.enabled ? undefined : view;
      },
      { timeoutMs: 30_000, what: 'the subscription to be disabled' },
    );
    expect(disabled.disabledReason).toMatch(/410/);
    const second = await erin.submit(hello('gone-again'));
    await erin.until(second, ['FINISHED']);
    const seen = receiver.requests.filter((r) => r.path === '/gone');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.id).toBe(`${first}:1`);

    // The endpoint is back: its owner turns the subscription on again, and it hears what follows.
    receiver.answer('/gone', [], 204);
    expect((await frank.call('PATCH', `/subscriptions/${subscription.id}`, { enabled: true })).status).toBe(
      404,
    );
    const bad = await erin.json<{ errors: unknown[] }>('PATCH', `/subscriptions/${subscription.id}`, {
      enabled: 'yes',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ path: 'enabled' })]);
    const enabled = await erin.json<unknown>('PATCH', `/subscriptions/${subscription.id}`, { enabled: true });
    expect(enabled.status, enabled.text).toBe(200);
    const view = subscriptionViewSchema.strict().parse(enabled.body);
    expect(view).toMatchObject({ enabled: true });
    expect(view.disabledReason).toBeUndefined();
    const third = await erin.submit(hello('back'));
    await erin.until(third, ['FINISHED']);
    const history = await erin.history(third);
    const events = await acceptedOf('/gone', third, history.length);
    expect(events.map((e) => e.data.sequence)).toEqual(history.map((h) => h.sequence));
    // Nothing of the jobs that changed while it was off.
    expect(accepted('/gone').filter((e) => e.data.jobId !== third)).toEqual([]);
  });

  it('should deliver a job spec’s own webhook and email, then end them', async () => {
    const secret = await frank.json<{ secret: string }>('POST', '/subscriptions/signing-secret');
    expect(secret.status).toBe(201);
    const id = await frank.submit(
      hello('spec-notified', {
        notifications: [
          { url: receiver.url('/per-job') },
          { email: 'frank@example.org', statuses: ['FINISHED', 'FAILED'] },
        ],
      }),
    );
    await frank.until(id, ['FINISHED']);
    const history = await frank.history(id);
    const events = await acceptedOf('/per-job', id, history.length);
    expect(events.map((e) => e.data.status)).toEqual(history.map((h) => h.status));
    for (const { received } of events) {
      expect(verifies(secret.body.secret, received)).toBe(true);
    }

    const mail = await waitFor(
      async () => {
        const caught =
          await runtime.json<Array<{ to: string[]; subject: string; text: string }>>('/admin/local/mail');
        return caught.find((m) => m.to.includes('frank@example.org') && m.text.includes(id));
      },
      { timeoutMs: 30_000, what: 'the email at the local catcher' },
    );
    expect(mail.subject).toBe('[cloudjobs] spec-notified FINISHED (NORMAL_COMPLETION)');
    expect(mail.text).toContain(`Job spec-notified (${id}) is now FINISHED, was ARCHIVING.`);
    expect(mail.text).toContain(`${runtime.info.url}/api/jobs/${id}`);

    const listed = await waitFor(
      async () => {
        const all = (await frank.json<{ items: unknown[] }>('GET', '/subscriptions')).body.items.map((item) =>
          subscriptionViewSchema.strict().parse(item),
        );
        const perJob = all.filter((s) => s.jobId === id);
        return perJob.length === 2 && perJob.every((s) => !s.enabled) ? perJob : undefined;
      },
      { timeoutMs: 30_000, what: 'the per-job subscriptions to end' },
    );
    expect(listed.map((s) => s.disabledReason)).toEqual([
      expect.stringMatching(/job ended/),
      expect.stringMatching(/job ended/),
    ]);

    // Deleting the job deletes its own subscriptions, and their deliveries with them.
    expect((await frank.call('DELETE', `/jobs/${id}`)).status).toBe(204);
    for (const subscription of listed) {
      expect((await frank.call('GET', `/subscriptions/${subscription.id}`)).status).toBe(404);
      expect((await frank.call('GET', `/subscriptions/${subscription.id}/deliveries`)).status).toBe(404);
    }
  });

  it('should send task changes, opted in, in batches and in order with the job’s own changes', async () => {
    const both = await subscribe(grace, { url: receiver.url('/grace'), events: ['job.*', 'task.*'] });
    await subscribe(grace, {
      url: receiver.url('/grace-failures'),
      events: ['task.*'],
      statuses: ['FAILED'],
    });
    const id = await grace.submit({
      name: 'task-events',
      tasks: [
        { id: 'first', command: 'echo first' },
        { id: 'second', command: 'echo second', dependsOn: ['first'] },
        { id: 'broken', command: 'echo broken; exit 3' },
        { id: 'after-broken', command: 'echo never', dependsOn: ['broken'] },
      ],
    });
    await grace.until(id, ['FAILED']);
    const history = await grace.history(id);

    // Everything the receiver took, in the order it came: job events and batches of task events.
    const received = await waitFor(
      () => {
        const mine = receiver.requests.filter((r) => r.path === '/grace' && r.body.includes(`"${id}"`));
        const jobEvents = mine.filter((r) => r.contentType === 'application/cloudevents+json');
        return jobEvents.length >= history.length ? mine : undefined;
      },
      { timeoutMs: 60_000, what: `every job event of ${id} at /grace` },
    );
    type Item =
      { kind: 'job'; status: string } | { kind: 'task'; taskId: string; status: string; sequence: number };
    const items: Item[] = [];
    for (const request of received) {
      expect(verifies(both.secret!, request)).toBe(true);
      if (request.contentType === 'application/cloudevents+json') {
        items.push({ kind: 'job', status: cloudEventSchema.parse(JSON.parse(request.body)).data.status });
        continue;
      }
      expect(request.contentType).toBe('application/cloudevents-batch+json');
      const batch = z.array(taskEventSchema).min(1).parse(JSON.parse(request.body));
      expect(request.id).toBe(`${id}:t${batch[0]!.data.sequence}`);
      for (const event of batch) {
        expect(event).toMatchObject({
          id: `${id}:t${event.data.sequence}`,
          source: `/jobs/${id}`,
          subject: `tasks/${event.data.taskId}`,
          data: { jobId: id, name: 'task-events', owner: 'grace', attempt: 1 },
        });
        items.push({ kind: 'task', ...event.data });
      }
    }
    expect(items.filter((i) => i.kind === 'job').map((i) => i.status)).toEqual(history.map((h) => h.status));
    const tasks = items.filter((i): i is Extract<Item, { kind: 'task' }> => i.kind === 'task');
    // Every task change once, numbered without gaps, in the order they happened.
    expect(tasks.map((t) => t.sequence)).toEqual(tasks.map((_, i) => i + 1));
    const finals = Object.fromEntries(tasks.map((t) => [t.taskId, t.status]));
    expect(finals).toEqual({
      first: 'SUCCEEDED',
      second: 'SUCCEEDED',
      broken: 'FAILED',
      'after-broken': 'SKIPPED',
    });
    const exit = tasks.find((t) => t.taskId === 'broken' && t.status === 'FAILED');
    expect(exit).toMatchObject({ exitCode: 3 });
    // Task changes come before the job changes they led to: the job ran once a task had started,
    // and it was archived only after every task had ended.
    const at = (predicate: (i: Item) => boolean) => items.findIndex(predicate);
    expect(at((i) => i.kind === 'task')).toBeLessThan(at((i) => i.kind === 'job' && i.status === 'RUNNING'));
    expect(
      items.slice(at((i) => i.kind === 'job' && i.status === 'ARCHIVING')).every((i) => i.kind === 'job'),
    ).toBe(true);

    const failures = await waitFor(
      () => {
        const found = receiver.requests.filter(
          (r) => r.path === '/grace-failures' && r.body.includes(`"${id}"`),
        );
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 30_000, what: 'the failures subscription’s batch' },
    );
    expect(
      failures
        .flatMap((r) => z.array(taskEventSchema).parse(JSON.parse(r.body)))
        .map((e) => [e.data.taskId, e.data.status]),
    ).toEqual([['broken', 'FAILED']]);

    const listed = await deliveries(grace, both.id, `?jobId=${id}`);
    const batches = listed.filter((d) => d.eventType === 'task.status.changed');
    expect(batches.reduce((n, d) => n + d.events!, 0)).toBe(tasks.length);
    expect(batches.every((d) => d.status === 'delivered' && Array.isArray(d.event))).toBe(true);
  });

  it('should send a few hundred task changes in full batches, each once', async () => {
    const subscription = await subscribe(heidi, { url: receiver.url('/heidi'), events: ['task.*'] });
    const id = await heidi.submit({ name: 'many-tasks', sweep: { command: 'true', range: [1, 300] } });
    await heidi.until(id, ['FINISHED']);
    const logged = (await heidi.history(id)).at(-1)!.taskSequence!;
    expect(logged).toBeGreaterThanOrEqual(300);
    const batches = await waitFor(
      () => {
        const mine = receiver.requests
          .filter((r) => r.path === '/heidi' && r.body.includes(`"${id}"`))
          .map((r) => ({ request: r, events: z.array(taskEventSchema).parse(JSON.parse(r.body)) }));
        return mine.reduce((n, b) => n + b.events.length, 0) >= logged ? mine : undefined;
      },
      { timeoutMs: 60_000, what: `${logged} task events of ${id}` },
    );
    const sequences = batches.flatMap((b) => b.events.map((e) => e.data.sequence));
    expect(sequences).toEqual(Array.from({ length: logged }, (_, i) => i + 1));
    expect(Math.max(...batches.map((b) => b.events.length))).toBeLessThanOrEqual(100);
    for (const { request } of batches) expect(verifies(subscription.secret!, request)).toBe(true);
    const finals = new Map(batches.flatMap((b) => b.events.map((e) => [e.data.taskId, e.data.status])));
    expect(finals.size).toBe(300);
    expect([...finals.values()].every((status) => status === 'SUCCEEDED')).toBe(true);
  });
});

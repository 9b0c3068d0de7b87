import { mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { strFromU8, unzipSync } from 'fflate';
import path from 'node:path';
import { describe, expect, inject, it, onTestFailed } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';
import { jobClient } from '../support/jobClient.js';
import { accessibilityViolations, useBrowser } from '../support/browser.js';
import { verifies, WebhookReceiver } from '../support/webhookReceiver.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef';
const OPS = 'ops-token-0123456789abcdef';

describe('the dashboard in a real browser, on the embedded runtime', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: {
      CLOUDJOBS_API_TOKENS: `alice=${ALICE},bob=${BOB},ops:admin=${OPS}`,
      CLOUDJOBS_TABLE_PREFIX: uniqueName('dash'),
    },
  });
  const browser = useBrowser();
  const api = () => jobClient(runtime, ALICE);

  /** A tab signed in as `token`, as a user does it: the sign-in form the service's 401 brings up. */
  async function signedIn(token: string, path = '/'): Promise<{ page: Page; context: BrowserContext }> {
    const context = await browser().newContext({ baseURL: runtime.url });
    const page = await context.newPage();
    // When a test fails, what the page and the runtime said is what explains it.
    const said: string[] = [];
    page.on('pageerror', (error) => said.push(`page error: ${error.message}`));
    page.on('console', (message) => said.push(`console ${message.type()}: ${message.text()}`));
    page.on('requestfailed', (request) =>
      said.push(`failed: ${request.url()} ${request.failure()?.errorText}`),
    );
    const missing: string[] = [];
    page.on('response', (response) => {
      said.push(`${response.status()} ${response.url()}`);
      if (response.status() === 404 && response.url().includes('/assets/')) missing.push(response.url());
    });
    onTestFailed(async () => {
      // An asset the page was refused: asked again from here, is it the server or the browser?
      const again = await Promise.all(
        missing.map(
          async (url) => `${(await fetch(url).catch(() => undefined))?.status ?? 'unreachable'} ${url}`,
        ),
      );
      console.log(
        `the page:\n${said.join('\n')}\n\nits missing assets asked again:\n${again.join('\n')}\n\nthe runtime (its end):\n${runtime.output.slice(-6000)}`,
      );
    });
    await page.goto(path);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('API token').waitFor({ state: 'detached' });
    return { page, context };
  }

  it('should submit a job from the form and show it reach FINISHED without a reload', async () => {
    const { page, context } = await signedIn(ALICE, '/submit');
    const name = uniqueName('form');
    await page
      .getByLabel('Job spec (JSON or YAML)')
      .fill(
        [
          `name: ${name}`,
          'tasks:',
          '  - id: first',
          '    command: sleep 1 && echo one',
          '  - id: second',
          '    command: echo two',
          '    dependsOn: [first]',
        ].join('\n'),
      );
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').at(-1)!;
    await expect
      .poll(() => page.locator('section.job').getAttribute('data-status'), { timeout: 60_000 })
      .toBe('FINISHED');
    // Everything arrived over the stream: both tasks succeeded, in the table and the history.
    await expect
      .poll(() => page.locator('[data-task] .badge').allTextContents())
      .toEqual(['succeeded', 'succeeded']);
    const history = await page.locator('.timeline .badge').allTextContents();
    expect(history.at(0)).toBe('pending');
    expect(history.at(-1)).toBe('finished');
    expect((await api().job(id)).status).toBe('FINISHED');
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it('should submit from a template with its parameters filled in', async () => {
    const name = uniqueName('tpl');
    const put = await api().json('PUT', `/templates/${name}/versions/1.0.0`, {
      description: 'counts to rows',
      spec: { name: 'counting', parameters: { rows: 3 }, tasks: [{ id: 'count', command: 'seq 1 ${rows}' }] },
    });
    expect(put.status, put.text).toBeLessThan(300);
    const { page, context } = await signedIn(ALICE, '/submit');
    await page.getByLabel('Template').selectOption(name);
    const rows = page.getByRole('textbox', { name: 'rows' });
    expect(await rows.getAttribute('placeholder')).toBe('3');
    await rows.fill('5');
    await page.getByRole('button', { name: 'Use this template' }).click();
    const spec = await page.getByLabel('Job spec (JSON or YAML)').inputValue();
    expect(spec).toContain(`template: ${name}@1.0.0`);
    expect(spec).toMatch(/rows: "?5"?\n/);
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').at(-1)!;
    await api().until(id, ['FINISHED']);
    const log = await api().call('GET', `/jobs/${id}/tasks/count/logs/stdout`);
    expect(log.text.trim().split('\n')).toEqual(['1', '2', '3', '4', '5']);
    await context.close();
  });

  it('should list a job’s outputs by task, from its row, and download them as one zip, or a task’s', async () => {
    const name = uniqueName('outputs');
    const id = await api().submit({
      name,
      tasks: [
        { id: 'a', command: 'mkdir -p r && echo alpha > r/one.txt', outputs: ['r/*.txt'] },
        { id: 'b', command: 'echo beta > two.txt', outputs: ['two.txt'] },
      ],
    });
    await api().until(id, ['FINISHED']);
    const { page, context } = await signedIn(ALICE, `/?name=${name}`);
    await page.getByRole('link', { name: `Outputs of ${name}` }).click();
    await page.waitForURL(`**/jobs/${id}#outputs`);
    // The outputs are where the reader lands (and where the keyboard is).
    await page.locator('h2#outputs:focus').waitFor();
    await page.getByRole('button', { name: 'r/one.txt' }).waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download all (.zip)' }).click(),
    ]);
    const entries = unzipSync(new Uint8Array(await readFile(await download.path())));
    expect(
      Object.fromEntries(Object.entries(entries).map(([name, bytes]) => [name, strFromU8(bytes)])),
    ).toEqual({
      'a/r/one.txt': 'alpha\n',
      'b/two.txt': 'beta\n',
    });
    const [taskZip] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download b (.zip)' }).click(),
    ]);
    expect(taskZip.suggestedFilename()).toBe(`${id}-b.zip`);
    expect(Object.keys(unzipSync(new Uint8Array(await readFile(await taskZip.path()))))).toEqual([
      'b/two.txt',
    ]);
    await context.close();
  });

  it('should upload a file in blocks straight to storage, list it, download it and delete it', async () => {
    const { page, context } = await signedIn(ALICE, '/files');
    const folder = uniqueName('dash-files');
    // Over one 8 MiB block: the page sends blocks, then their list.
    const bytes = Buffer.alloc(20 * 1024 * 1024 + 17, 7);
    bytes.write('the first line\n');
    await page.getByLabel('Folder').fill(`${folder}/`);
    await page
      .getByLabel('Files to upload')
      .setInputFiles({ name: 'data.bin', mimeType: 'application/octet-stream', buffer: bytes });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const row = page.locator(`tr[data-file="${folder}/data.bin"]`);
    await row.waitFor();
    await expect.poll(() => row.textContent()).toContain('20.0 MiB');
    expect(await accessibilityViolations(page)).toEqual([]);
    const stored = await api().call('GET', `/files/${folder}/data.bin`);
    expect(stored.text.length).toBe(bytes.length);
    // Bob sees none of it.
    expect((await api().call('GET', `/files?prefix=${folder}/`, undefined, BOB)).text).toBe('{"items":[]}');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      row.getByRole('button', { name: /^Download/ }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('data.bin');
    expect((await readFile(await download.path())).equals(bytes)).toBe(true);

    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: /^Delete/ }).click();
    await row.waitFor({ state: 'detached' });
    expect((await api().call('GET', `/files/${folder}/data.bin`)).status).toBe(404);
    await context.close();
  });

  it('should set a secret without ever showing it back, and delete it', async () => {
    const { page, context } = await signedIn(ALICE, '/secrets');
    const name = uniqueName('dash-secret')
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-');
    const value = `value-${uniqueName('v')}`;
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Value').fill(value);
    await page.getByRole('button', { name: 'Save' }).click();
    const row = page.locator(`tr[data-secret-name="${name}"]`);
    await row.waitFor();
    // Gone from the form once the service has it, and nowhere on the page.
    expect(await page.getByLabel('Value').inputValue()).toBe('');
    expect(await page.content()).not.toContain(value);
    expect(await row.textContent()).toContain(`{"secretRef":"${name}"}`);
    expect(await accessibilityViolations(page)).toEqual([]);
    const listed = await api().json<{ items: Array<{ name: string }> }>('GET', '/secrets');
    expect(listed.body.items.map((secret) => secret.name)).toContain(name);

    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    expect((await api().json<{ items: unknown[] }>('GET', '/secrets')).body.items).toEqual([]);
    await context.close();
  });

  it('should show a running task’s new log lines as they are written', async () => {
    const id = await api().submit({
      name: 'ticker',
      tasks: [{ id: 'tick', command: 'for i in 1 2 3 4 5 6; do echo "line $i"; sleep 1; done' }],
    });
    const { page, context } = await signedIn(ALICE, `/jobs/${id}`);
    await page.locator('[data-task="tick"] button').click();
    const log = page.locator('pre[data-log="stdout"]');
    // A line arrives while the task still runs, and the rest follow in the same view.
    await expect.poll(() => log.textContent(), { timeout: 30_000 }).toContain('line 1');
    const first = Date.now();
    expect((await api().tasks(id)).tick!.status).not.toBe('SUCCEEDED');
    // Lines 1 and 6 are written five seconds apart; each shows within a poll and a read.
    await expect.poll(() => log.textContent(), { timeout: 30_000 }).toContain('line 6');
    expect(Date.now() - first).toBeGreaterThan(2000);
    expect((await log.textContent())!.match(/line \d/g)).toEqual([
      'line 1',
      'line 2',
      'line 3',
      'line 4',
      'line 5',
      'line 6',
    ]);
    await context.close();
  });

  it('should cancel one running task from its log panel; what depends on it is skipped, live', async () => {
    const id = await api().submit({
      name: uniqueName('cancel-task'),
      tasks: [
        { id: 'long', command: 'echo started; sleep 120' },
        { id: 'after', command: 'true', dependsOn: ['long'] },
      ],
    });
    const { page, context } = await signedIn(ALICE, `/jobs/${id}`);
    await page.locator('[data-task="long"] button').click();
    await expect
      .poll(() => page.locator('pre[data-log="stdout"]').textContent(), { timeout: 30_000 })
      .toContain('started');
    const asked: string[] = [];
    page.once('dialog', (dialog) => {
      asked.push(dialog.message());
      void dialog.accept();
    });
    await page.getByRole('button', { name: 'Cancel task long' }).click();
    expect(asked).toEqual(['Cancel task “long”? Tasks that depend on it will be skipped.']);
    // The table and the job's header change by themselves: no reload.
    const state = (task: string) =>
      page.locator(`[data-task="${task}"] [role="cell"]:nth-child(2)`).textContent();
    await expect.poll(() => state('long'), { timeout: 30_000 }).toMatch(/cancelled/i);
    await expect.poll(() => state('after'), { timeout: 30_000 }).toMatch(/skipped/i);
    await expect
      .poll(() => page.locator('section.job').getAttribute('data-status'), { timeout: 30_000 })
      .toBe('FAILED');
    await page.getByText('task cancelled', { exact: false }).first().waitFor();
    // An ended task offers no cancel.
    expect(await page.getByRole('button', { name: 'Cancel task long' }).count()).toBe(0);
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it('should add tasks to an open job from its page, show them live, and complete it', async () => {
    const name = uniqueName('open');
    const id = await api().submit({
      name,
      completeWhenTasksFinish: false,
      tasks: [{ id: 'first', command: 'echo first' }],
    });
    await api().until(id, ['QUEUED', 'RUNNING']);
    const { page, context } = await signedIn(ALICE, `/jobs/${id}`);
    const text = page.getByLabel('Tasks to add');
    // The service's refusal is shown at its field; nothing is added.
    await text.fill('- id: bad\n  command: "true"\n  dependsOn: [nope]\n');
    await page.getByRole('button', { name: 'Add tasks' }).click();
    await page.getByText('The tasks were not added').waitFor();
    expect(await page.locator('.add-tasks').textContent()).toMatch(/tasks\[0\]\.dependsOn\[0\]/);
    await text.fill('- id: second\n  command: echo second\n  dependsOn: [first]\n');
    await page.getByRole('button', { name: 'Add tasks' }).click();
    await page.getByText('Added 1 task(s); the job has 2.').waitFor();
    await page.locator('[data-task="second"]').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: `Complete ${name}` }).click();
    await expect
      .poll(() => page.locator('section.job').getAttribute('data-status'), { timeout: 30_000 })
      .toBe('FINISHED');
    expect(await page.getByLabel('Tasks to add').count()).toBe(0);
    expect((await api().tasks(id)).second!.status).toBe('SUCCEEDED');
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it('should rerun a failed job’s failed tasks from its page and land on the new job', async () => {
    // Fails the first time it runs and succeeds after (the local pool shares this machine).
    const marker = path.join(tmpdir(), uniqueName('flaky'));
    const name = uniqueName('rerun');
    const id = await api().submit({
      name,
      tasks: [
        { id: 'prep', command: 'echo prepared' },
        { id: 'flaky', command: `if [ -e ${marker} ]; then echo second; else touch ${marker}; exit 4; fi` },
      ],
    });
    await api().until(id, ['FAILED']);
    const { page, context } = await signedIn(ALICE, `/jobs/${id}`);
    await page.getByRole('button', { name: `Rerun failed tasks of ${name}` }).click();
    await page.waitForURL((url) => url.pathname.startsWith('/jobs/') && !url.pathname.endsWith(id));
    const rerun = decodeURIComponent(new URL(page.url()).pathname.split('/').at(-1)!);
    await expect
      .poll(() => page.locator('section.job').getAttribute('data-status'), { timeout: 30_000 })
      .toBe('FINISHED');
    // Only the failed task ran again; the page says where it came from, and links back.
    expect(await page.locator('[data-task]').count()).toBe(1);
    expect(await page.locator('[data-task="flaky"]').count()).toBe(1);
    await page.getByRole('link', { name: id.slice(0, 8) }).click();
    await page.waitForURL((url) => url.pathname.endsWith(id));
    await page.getByRole('link', { name: rerun.slice(0, 8) }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    await rm(marker, { force: true });
    await context.close();
  });

  it('should move a running job’s progress bar as its tasks end, without a reload', async () => {
    const { page, context } = await signedIn(ALICE);
    const id = await api().submit({
      name: uniqueName('bars'),
      tasks: [1, 3, 5, 7].map((s) => ({ id: `t${s}`, command: `sleep ${s}` })),
    });
    const row = page.locator(`tr[data-job="${id}"]`);
    const seen = new Set<string>();
    await expect
      .poll(
        async () => {
          seen.add(`${await row.getAttribute('data-status')} ${await row.locator('.count').textContent()}`);
          return row.getAttribute('data-status');
        },
        { timeout: 60_000, interval: 100 },
      )
      .toBe('FINISHED');
    // Counts between none and all were shown while the job ran: the bar moved on its own.
    expect(
      [...seen].some((s) => /^(QUEUED|RUNNING) [123]\/4$/.test(s)),
      [...seen].join(', '),
    ).toBe(true);
    expect(await row.locator('.count').textContent()).toBe('4/4');
    await context.close();
  });

  it('should cancel a running job from its row', async () => {
    const id = await api().submit({ name: uniqueName('long'), tasks: [{ id: 'wait', command: 'sleep 60' }] });
    await api().until(id, ['RUNNING']);
    const { page, context } = await signedIn(ALICE);
    const row = page.locator(`tr[data-job="${id}"]`);
    await row.getByRole('button', { name: /^Cancel/ }).click();
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 60_000 }).toBe('CANCELLED');
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it('should show a bad spec’s error at its field and store nothing', async () => {
    const { page, context } = await signedIn(ALICE, '/submit');
    // As it is typed, against the API's own JSON Schema: each field at fault, on its line.
    await page
      .getByLabel('Job spec (JSON or YAML)')
      .fill(
        [
          'name: typo',
          'tasks:',
          '  - id: a',
          '    command: echo hi',
          '    colour: red',
          '    dependsOn: b',
        ].join('\n'),
      );
    const issues = page.locator('#spec-status li');
    await expect
      .poll(() => issues.allTextContents())
      .toEqual([
        'line 5: tasks[0].colour is not a field here',
        'line 6: tasks[0].dependsOn must be an array',
      ]);
    const name = uniqueName('bad');
    await page
      .getByLabel('Job spec (JSON or YAML)')
      .fill(JSON.stringify({ name, tasks: [{ id: 'a', command: 'true', dependsOn: ['missing'] }] }));
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.textContent()).toContain('tasks[0].dependsOn[0]');
    expect(page.url()).toMatch(/\/submit$/);
    // Text that is not YAML at all is caught as it is typed, before anything is sent.
    await page.getByLabel('Job spec (JSON or YAML)').fill('{ "name": ');
    expect(await page.getByRole('button', { name: 'Submit', exact: true }).isDisabled()).toBe(true);
    expect((await api().json<{ items: unknown[] }>('GET', `/jobs?name=${name}`)).body.items).toEqual([]);
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it('should subscribe a webhook, show its secret once, and show each delivery and its attempts', async () => {
    const receiver = new WebhookReceiver();
    await receiver.start();
    // The receiver refuses the first attempt at each event: the log shows a retry, then success.
    receiver.answer('/hook', [503], 204);
    const { page, context } = await signedIn(ALICE, '/subscriptions');
    await page.getByLabel('Webhook URL').fill(receiver.url('/hook'));
    await page.getByLabel('only when a job ends').check();
    await page.getByRole('button', { name: 'Subscribe' }).click();
    const secret = (await page.locator('[data-secret]').textContent())!;
    expect(secret).toMatch(/^whsec_/);
    await page.getByRole('button', { name: 'I have kept it' }).click();
    expect(await page.locator('[data-secret]').count()).toBe(0);
    const item = page.locator('li[data-subscription]').filter({ hasText: receiver.url('/hook') });
    expect(await item.locator('.badge').textContent()).toBe('on');

    const id = await api().submit({ name: uniqueName('told'), tasks: [{ id: 'a', command: 'true' }] });
    await api().until(id, ['FINISHED']);
    await expect.poll(() => receiver.acceptedAt('/hook').length, { timeout: 60_000 }).toBe(1);
    // What arrived is signed with the secret the page showed.
    expect(verifies(secret, receiver.acceptedAt('/hook')[0]!)).toBe(true);
    await item.getByRole('button', { name: 'Deliveries' }).click();
    const delivery = item.locator(`tr[data-delivery^="${id}:"]`);
    await expect.poll(() => delivery.getAttribute('data-status'), { timeout: 10_000 }).toBe('delivered');
    await delivery.locator('summary').click();
    const attempts = await delivery.locator('details li').allTextContents();
    expect(attempts.map((a) => a.replace(/^.*?: /, '').split(' in ')[0])).toEqual([
      'failed (503)',
      'delivered (204)',
    ]);
    expect(await accessibilityViolations(page)).toEqual([]);

    await item.getByRole('button', { name: 'Turn off' }).click();
    await expect.poll(() => item.locator('.badge').first().textContent()).toBe('off');
    await context.close();
    await receiver.stop();
  });

  it('should ask again for a token the service refuses, and keep the one it accepts', async () => {
    const context = await browser().newContext({ baseURL: runtime.url });
    const page = await context.newPage();
    await page.goto('/');
    await page.getByLabel('API token').fill('not-a-token-of-this-service');
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Refused: the form comes back, and nothing of anyone's is shown.
    await page.getByLabel('API token').waitFor();
    await page.getByLabel('API token').fill(ALICE);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
    await page.getByLabel('API token').waitFor({ state: 'detached' });
    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await page.getByLabel('API token').count()).toBe(0);
    await context.close();
  });

  it('should read again what was on its way when the user signed in, with the new token', async () => {
    const context = await browser().newContext({ baseURL: runtime.url });
    const page = await context.newPage();
    // The pools request is held until the user has signed in: it then reaches the service
    // without a token, as a slow one would have.
    let release: () => void = () => undefined;
    const signedInNow = new Promise<void>((resolve) => (release = resolve));
    let held = 0;
    await page.route('**/api/pools', async (route) => {
      if (held++ === 0) await signedInNow;
      await route.continue();
    });
    const poolsAsked = page.waitForRequest('**/api/pools');
    await page.goto('/pools');
    await poolsAsked;
    await page.getByLabel('API token').fill(ALICE);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('API token').waitFor({ state: 'detached' });
    release();
    await page.locator('tr[data-pool="local"]').waitFor();
    expect(held).toBeGreaterThanOrEqual(2);
    await context.close();
  });

  it('should offer the platform’s sign-in where Static Web Apps answers /.auth/me, and no token field', async () => {
    // The embedded runtime is not Static Web Apps: it has no /.auth (the fallback page must not answer for it).
    expect((await fetch(`${runtime.url}/.auth/me`)).status).toBe(404);
    const context = await browser().newContext({ baseURL: runtime.url });
    const page = await context.newPage();
    // What Static Web Apps answers for someone not signed in; the API's 401 is the runtime's own.
    await page.route('**/.auth/me', (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: '{"clientPrincipal":null}' }),
    );
    await page.goto('/pools?x=1');
    const link = page.getByRole('link', { name: 'Sign in with Microsoft' });
    await link.waitFor();
    expect(await link.getAttribute('href')).toBe(
      `/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent('/pools?x=1')}`,
    );
    expect(await page.getByLabel('API token').count()).toBe(0);
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it('should show pools, presets and templates to anyone, and a refused resize as the service words it', async () => {
    const { page, context } = await signedIn(ALICE, '/pools');
    const pool = page.locator('tr[data-pool="local"]');
    await pool.waitFor();
    // The embedded runtime's presets share out the one local node.
    const small = page.locator('tr[data-preset="small"]');
    expect(await small.textContent()).toMatch(/one task slot of this machine.*local, 1 slot$/);
    expect(await page.locator('tr[data-preset="large"] td').last().textContent()).toMatch(
      /^local, \d+ slots$/,
    );
    await pool.getByLabel('Dedicated nodes of local').fill('3');
    await pool.getByRole('button', { name: 'Resize' }).click();
    // Alice is no admin: the problem document's words, not a generic failure.
    await expect.poll(() => pool.getByRole('alert').textContent()).toMatch(/Not resized.*admin/i);
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it('should look right on each page, light and dark, on a desk and a phone', async () => {
    const id = await api().submit({
      name: 'screenshot',
      tasks: [
        { id: 'prepare', command: 'echo ready' },
        ...[1, 2, 3].map((n) => ({ id: `work-${n}`, command: `echo part ${n}`, dependsOn: ['prepare'] })),
      ],
    });
    await api().until(id, ['FINISHED']);
    const dir = path.join(ROOT, 'test-results', 'screenshots');
    await mkdir(dir, { recursive: true });
    const pages = {
      jobs: '/',
      job: `/jobs/${id}`,
      submit: '/submit',
      subscriptions: '/subscriptions',
      pools: '/pools',
    };
    for (const colorScheme of ['light', 'dark'] as const) {
      for (const [size, viewport] of [
        ['desk', { width: 1280, height: 800 }],
        ['phone', { width: 360, height: 780 }],
      ] as const) {
        const context = await browser().newContext({
          baseURL: runtime.url,
          colorScheme,
          viewport,
        });
        // Signed in as the sign-in form leaves it (that form has its own test).
        await context.addInitScript({
          content: `sessionStorage.setItem('cloudjobs.token', ${JSON.stringify(ALICE)})`,
        });
        const page = await context.newPage();
        for (const [name, address] of Object.entries(pages)) {
          await page.goto(address);
          await page.locator('main h1').first().waitFor();
          // Whatever the page reads has arrived (a live page never goes quiet on the network).
          await page.getByText('Loading…').first().waitFor({ state: 'detached' });
          await page.getByText('Drawing…').waitFor({ state: 'detached' });
          await page.screenshot({
            path: path.join(dir, `${name}-${colorScheme}-${size}.png`),
            fullPage: true,
          });
          // Nothing is wider than the screen: no sideways scrolling of the page itself.
          const overflow = Number(
            await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'),
          );
          expect(overflow, `${name} ${colorScheme} ${size}`).toBeLessThanOrEqual(0);
          if (size === 'desk')
            expect(await accessibilityViolations(page), `${name} ${colorScheme}`).toEqual([]);
        }
        await context.close();
      }
    }
  });

  it('should filter by tag and day, sort the rows, and show admins whose jobs they are', async () => {
    const project = uniqueName('proj');
    for (const [name, tags] of [
      ['b-second', { project }],
      ['a-first', { project, stage: 'x' }],
      ['c-untagged', {}],
    ] as const) {
      await api().submit({ name: `${project}-${name}`, tags, tasks: [{ id: 't', command: 'true' }] });
    }
    const { page, context } = await signedIn(ALICE, `/?tag=${encodeURIComponent(`project=${project}`)}`);
    const names = () => page.locator('tr[data-job] td:first-child a').allTextContents();
    await expect.poll(names).toEqual([`${project}-a-first`, `${project}-b-second`]);
    await page.getByRole('button', { name: 'Name' }).click();
    await expect.poll(names).toEqual([`${project}-a-first`, `${project}-b-second`]);
    expect(await page.getByRole('columnheader', { name: 'Name' }).getAttribute('aria-sort')).toBe(
      'ascending',
    );
    await page.getByRole('button', { name: 'Name' }).click();
    await expect.poll(names).toEqual([`${project}-b-second`, `${project}-a-first`]);
    expect(new URL(page.url()).searchParams.get('order')).toBe('desc');
    // A tag with a value, typed in; then a day range that ends before today: nothing.
    const tag = page.getByRole('searchbox', { name: 'Tag' });
    await tag.fill('stage=x');
    await tag.press('Enter');
    await expect.poll(names).toEqual([`${project}-a-first`]);
    await page.getByLabel('to', { exact: true }).fill('2020-01-31');
    await page.getByText('No jobs match these filters').waitFor();
    // Alice is no admin: no owner to choose, no owner column.
    expect(await page.getByRole('searchbox', { name: 'Owner' }).count()).toBe(0);
    expect(await page.getByRole('columnheader', { name: 'Owner' }).count()).toBe(0);
    await context.close();

    const admin = await signedIn(OPS, `/?owner=alice&tag=${encodeURIComponent(`project=${project}`)}`);
    await admin.page.getByTestId('whoami').filter({ hasText: 'ops (admin)' }).waitFor();
    await admin.page.getByRole('heading', { name: 'Jobs of alice' }).waitFor();
    const owners = () => admin.page.locator('tr[data-job] td:nth-child(2)').allTextContents();
    await expect.poll(owners).toEqual(['alice', 'alice']);
    expect(await accessibilityViolations(admin.page)).toEqual([]);
    await admin.context.close();
  });

  it('should draw the task graph in the tasks’ states as they change, and open a task’s log from it', async () => {
    const id = await api().submit({
      name: uniqueName('graph'),
      tasks: [
        { id: 'prep', command: 'sleep 4 && echo prepared' },
        { id: 'left', command: 'echo left', dependsOn: ['prep'] },
        { id: 'right', command: 'echo right', dependsOn: ['prep'] },
        { id: 'join', command: 'echo joined', dependsOn: ['left', 'right'] },
      ],
    });
    const { page, context } = await signedIn(ALICE, `/jobs/${id}`);
    const graph = page.getByRole('group', { name: 'Task dependencies' });
    await graph.waitFor();
    expect(await graph.locator('svg').getAttribute('data-edges')).toBe('4');
    const nodes = async () =>
      Promise.all(
        (await graph.locator('[data-task-node]').all()).map((node) => node.getAttribute('data-status')),
      );
    // Drawn while prep still runs: join waits.
    const first = await nodes();
    expect(first.length).toBe(4);
    expect(first[3]).not.toBe('SUCCEEDED');
    // Live, without a reload: every node ends succeeded.
    await expect
      .poll(nodes, { timeout: 60_000 })
      .toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    const join = graph.getByRole('button', { name: 'join, succeeded' });
    await join.focus();
    await page.keyboard.press('Enter');
    expect(await join.getAttribute('aria-pressed')).toBe('true');
    await expect
      .poll(() => page.getByLabel('stdout of join').textContent(), { timeout: 30_000 })
      .toContain('joined');
    expect(await accessibilityViolations(page)).toEqual([]);
    await context.close();
  });

  it('should change a running job’s priority from its page, and refuse one out of range as the service says', async () => {
    const id = await api().submit({ name: uniqueName('prio'), tasks: [{ id: 'wait', command: 'sleep 60' }] });
    await api().until(id, ['RUNNING']);
    const { page, context } = await signedIn(ALICE, `/jobs/${id}`);
    const priority = page.getByRole('spinbutton', { name: 'Priority' });
    await priority.fill('250');
    await page.getByRole('button', { name: 'Set', exact: true }).click();
    await expect.poll(async () => (await api().job(id)).priority).toBe(250);
    // The browser's own range check is not the only one: the service's refusal is shown as it words it.
    await priority.evaluate((input: { removeAttribute(name: string): void }) => input.removeAttribute('max'));
    await priority.fill('5000');
    await page.getByRole('button', { name: 'Set', exact: true }).click();
    await page.getByText('The priority was not changed').waitFor();
    expect((await api().job(id)).priority).toBe(250);
    expect(await accessibilityViolations(page)).toEqual([]);
    // Sorted by priority, the list asks the service for that order: this job comes first.
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    const ordered = page.waitForRequest((request) => request.url().includes('sort=priority'));
    await page.getByRole('button', { name: 'Priority' }).click();
    await ordered;
    expect(await page.getByRole('columnheader', { name: 'Priority' }).getAttribute('aria-sort')).toBe(
      'descending',
    );
    await expect.poll(() => page.locator('tr[data-job]').first().getAttribute('data-job')).toBe(id);
    expect(await page.locator(`tr[data-job="${id}"] td.col-priority`).textContent()).toBe('250');
    await api().call('POST', `/jobs/${id}/cancel`);
    await context.close();
  });

  it('should not show another user’s job, even by its address', async () => {
    const theirs = await jobClient(runtime, BOB).submit({
      name: 'private',
      tasks: [{ id: 'a', command: 'true' }],
    });
    const { page, context } = await signedIn(ALICE, `/jobs/${theirs}`);
    await page.getByRole('heading', { name: 'No such job' }).waitFor();
    expect(await page.content()).not.toContain('private');
    await context.close();
  });
});

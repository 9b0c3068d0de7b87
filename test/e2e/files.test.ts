import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { openPromise as openZip, type Entry } from 'yauzl';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { jobClient } from '../support/jobClient.js';
import { cliRunner } from '../support/cliProcess.js';
import { ROOT, uniqueName, useRuntime, type RuntimeProcess } from '../support/runtimeProcess.js';
import { TableClient, TableServiceClient } from '@azure/data-tables';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { LOCAL_BATCH_ACCOUNT, LOCAL_BATCH_KEY } from '../../infra/local/batch/localBatch.js';
import { waitFor } from '../support/waitFor.js';
import { WebhookReceiver } from '../support/webhookReceiver.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef';

const sha256 = async (file: string) => {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
};

/** The SHA-256 of each file in a zip, read through its central directory as unzip tools do. */
async function zipDigests(file: string): Promise<Record<string, string>> {
  const zip = await openZip(file, { lazyEntries: true });
  const digests: Record<string, string> = {};
  try {
    for (;;) {
      const next = once(zip, 'entry').then(([entry]) => entry as Entry);
      const ended = once(zip, 'end').then(() => undefined);
      zip.readEntry();
      const entry = await Promise.race([next, ended]);
      if (!entry) break;
      const hash = createHash('sha256');
      for await (const chunk of await zip.openReadStreamPromise(entry)) hash.update(chunk as Buffer);
      digests[entry.fileName] = hash.digest('hex');
    }
  } finally {
    zip.close();
  }
  return digests;
}

/**
 * Everything the app and its services hold of job `id`: blobs under its folder in the app's
 * containers, table rows naming it (any table of the runtime's prefix), its Batch job, and its
 * Durable instance.
 */
async function leftBehind(runtime: RuntimeProcess, id: string) {
  const service = BlobServiceClient.fromConnectionString(runtime.info.connectionString);
  const blobs: string[] = [];
  for (const container of ['jobs', 'job-logs', `jobdata-${id}`]) {
    const client = service.getContainerClient(container);
    // The job's own container goes with it whole.
    if (!(await client.exists())) continue;
    for await (const blob of client.listBlobsFlat({ prefix: `${id}/` }))
      blobs.push(`${container}/${blob.name}`);
  }
  const tables = TableServiceClient.fromConnectionString(runtime.info.connectionString, {
    allowInsecureConnection: true,
  });
  const prefix = runtime.options.env!.CLOUDJOBS_TABLE_PREFIX!;
  const rows: string[] = [];
  for await (const table of tables.listTables()) {
    if (!table.name!.startsWith(prefix)) continue;
    const client = TableClient.fromConnectionString(runtime.info.connectionString, table.name!, {
      allowInsecureConnection: true,
    });
    for await (const row of client.listEntities<Record<string, unknown>>()) {
      if ([row.partitionKey, row.rowKey, row.JobId].some((value) => String(value).includes(id)))
        rows.push(`${table.name}/${row.partitionKey}/${row.rowKey}`);
    }
  }
  const batch = new BatchServiceClient(
    new BatchSharedKeyCredentials(LOCAL_BATCH_ACCOUNT, LOCAL_BATCH_KEY),
    runtime.info.batchUrl!,
  );
  const batchJob = await batch.job.get(id).then(
    () => true,
    (error: { statusCode?: number }) => {
      if (error.statusCode === 404) return false;
      throw error;
    },
  );
  const instance = await runtime.fetch(`/runtime/webhooks/durabletask/instances/${id}`);
  const container = await service.getContainerClient(`jobdata-${id}`).exists();
  return { blobs, rows, batchJob, history: instance.status === 200, container };
}

// Data in and out as a user moves it: their own files up, job outputs down.
describe.concurrent('data in and out on the embedded runtime', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: {
      CLOUDJOBS_API_TOKENS: `alice=${ALICE},bob=${BOB}`,
      CLOUDJOBS_TABLE_PREFIX: uniqueName('f'),
    },
    args: ['--batch-slots', '8'],
  });
  const alice = jobClient(runtime, ALICE);
  const bob = jobClient(runtime, BOB);
  const uploads = () =>
    BlobServiceClient.fromConnectionString(runtime.info.connectionString).getContainerClient('uploads');
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cloudjobs-files-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const cloudjobs = cliRunner(runtime, ALICE, () => path.join(dir, 'config'));
  const leftOf = (id: string) => leftBehind(runtime, id);
  const receiver = new WebhookReceiver();
  beforeAll(() => receiver.start());
  afterAll(() => receiver.stop());

  it('should upload 200 MB through the CLI, resume it after a kill, and run a job on it as files://', async () => {
    const local = path.join(dir, 'big.bin');
    const bytes = randomBytes(200 * 1024 * 1024);
    await writeFile(local, bytes);
    const whole = createHash('sha256').update(bytes).digest('hex');
    const first20 = createHash('sha256')
      .update(bytes.subarray(0, 20 * 1024 * 1024))
      .digest('hex');
    const remote = `${uniqueName('e2e')}/big.bin`;
    const blob = uploads().getBlockBlobClient(`alice/${remote}`);

    // One block at a time, so the kill lands part way: once storage holds a few blocks.
    let group = 0;
    const cut = await cloudjobs(['files', 'put', local, remote, '--concurrency', '1', '--block-size', '4'], {
      started: (child) => {
        group = child.pid!;
        void waitFor(
          async () => {
            const list = await blob.getBlockList('uncommitted').catch(() => undefined);
            return (list?.uncommittedBlocks?.length ?? 0) >= 5 ? true : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 50, what: 'blocks to land' },
        ).then(() => process.kill(-group, 'SIGKILL'));
      },
    });
    expect(cut.code).not.toBe(0);
    expect(await blob.exists()).toBe(false);

    const resumed = await cloudjobs(['files', 'put', local, remote, '--block-size', '4', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const result = JSON.parse(resumed.stdout) as { source: string; blocks: number; resumedBlocks: number };
    expect(result).toMatchObject({ source: `files://${remote}`, blocks: 50 });
    expect(result.resumedBlocks).toBeGreaterThanOrEqual(5);

    const listed = await cloudjobs(['files', 'ls', remote.split('/')[0]!]);
    expect(listed.stdout).toContain(`${remote}  200.0 MiB`);

    const id = await alice.submit({
      name: uniqueName('files-input'),
      tasks: [
        {
          id: 'sum',
          // The first 20 MB as a second output, in a folder: what the zip and folder downloads are checked on.
          command:
            'sha256sum ${inputDir}/big.bin | cut -d" " -f1 > ${outputDir}/sum.txt && mkdir -p ${outputDir}/deep && head -c 20971520 ${inputDir}/big.bin > ${outputDir}/deep/copy.bin',
          inputs: [{ source: `files://${remote}` }],
        },
      ],
    });
    expect((await alice.until(id, ['FINISHED', 'FAILED'], 120_000)).status).toBe('FINISHED');
    const sum = await alice.call('GET', `/jobs/${id}/outputs/sum/outputs/sum.txt`);
    expect(sum.text.trim()).toBe(whole);

    // The outputs whole: as one zip (streamed, checked entry by entry) and as a folder.
    const zip = path.join(dir, 'outputs.zip');
    const zipped = await cloudjobs(['outputs', id, '--zip', zip]);
    expect(zipped.code, zipped.stderr).toBe(0);
    expect(await zipDigests(zip)).toEqual({
      'sum/outputs/deep/copy.bin': first20,
      'sum/outputs/sum.txt': createHash('sha256').update(`${whole}\n`).digest('hex'),
    });
    const folder = path.join(dir, 'outputs');
    expect((await cloudjobs(['outputs', id, '--download', folder])).code).toBe(0);
    expect(await sha256(path.join(folder, 'sum/outputs/deep/copy.bin'))).toBe(first20);

    const back = path.join(dir, 'back.bin');
    const got = await cloudjobs(['files', 'get', remote, back]);
    expect(got.code, got.stderr).toBe(0);
    expect(await sha256(back)).toBe(whole);
    // A download cut short leaves the file's first bytes in a part file: only the rest is asked for.
    const again = path.join(dir, 'again.bin');
    await writeFile(`${again}.part`, bytes.subarray(0, 10 * 1024 * 1024));
    const resumedGet = await cloudjobs(['files', 'get', remote, again, '--json']);
    expect(JSON.parse(resumedGet.stdout)).toMatchObject({
      resumedBytes: 10 * 1024 * 1024,
      size: 200 * 1024 * 1024,
    });
    expect(await sha256(again)).toBe(whole);
  });

  it('should keep the logs of every attempt of a task that failed twice, the plain log the last', async () => {
    const counter = path.join(dir, uniqueName('tries'));
    const id = await alice.submit({
      name: uniqueName('attempts'),
      tasks: [
        {
          id: 'flaky',
          retries: 2,
          command: `n=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 )); echo $n > ${counter}; echo "try $n"; echo "oops $n" >&2; [ $n -ge 3 ]`,
        },
      ],
    });
    expect((await alice.until(id, ['FINISHED', 'FAILED'], 60_000)).status).toBe('FINISHED');
    const attempts = await alice.json<{ items: Array<{ attempt: number; stdoutBytes: number }> }>(
      'GET',
      `/jobs/${id}/tasks/flaky/attempts`,
    );
    expect(attempts.body.items.map((a) => [a.attempt, a.stdoutBytes])).toEqual([
      [1, 6],
      [2, 6],
      [3, 6],
    ]);
    for (const n of [1, 2, 3]) {
      expect((await alice.call('GET', `/jobs/${id}/tasks/flaky/attempts/${n}/logs/stdout`)).text).toBe(
        `try ${n}\n`,
      );
      expect((await alice.call('GET', `/jobs/${id}/tasks/flaky/attempts/${n}/logs/stderr`)).text).toBe(
        `oops ${n}\n`,
      );
    }
    expect((await alice.call('GET', `/jobs/${id}/tasks/flaky/logs/stdout`)).text).toBe('try 3\n');
    expect((await alice.call('GET', `/jobs/${id}/tasks/flaky/attempts/4/logs/stdout`)).status).toBe(404);
    expect((await alice.call('GET', `/jobs/${id}/tasks/flaky/attempts/0/logs/stdout`)).status).toBe(400);
    expect((await alice.tasks(id)).flaky).toMatchObject({ status: 'SUCCEEDED', attempt: 3 });
    const cli = await cloudjobs(['logs', id, 'flaky', '--attempt', '2', '--stderr']);
    expect(cli.stdout).toBe('oops 2\n');
    // Someone else's job's attempts are not theirs to see.
    expect((await alice.call('GET', `/jobs/${id}/tasks/flaky/attempts`, undefined, BOB)).status).toBe(404);
  });

  it('should leave no blob, row, Batch job or orchestration history of a deleted job', async () => {
    const id = await alice.submit({
      name: uniqueName('deleted'),
      tasks: [
        { id: 'a', command: 'echo hi; echo out > ${outputDir}/a.txt' },
        { id: 'b', command: 'echo there', dependsOn: ['a'], retries: 1 },
      ],
    });
    expect((await alice.until(id, ['FINISHED', 'FAILED'], 60_000)).status).toBe('FINISHED');
    const before = await leftOf(id);
    expect(before.blobs.length).toBeGreaterThan(3);
    expect(before.rows.length).toBeGreaterThan(3);
    expect(before).toMatchObject({ batchJob: true, history: true, container: true });

    expect((await alice.call('DELETE', `/jobs/${id}`, undefined, BOB)).status).toBe(404);
    expect((await alice.call('DELETE', `/jobs/${id}`)).status).toBe(204);
    expect(await leftOf(id)).toEqual({
      blobs: [],
      rows: [],
      batchJob: false,
      history: false,
      container: false,
    });
    expect((await alice.call('DELETE', `/jobs/${id}`)).status).toBe(404);
  });

  it('should hand each job a write URL that reaches its own data and nothing else', async () => {
    const [a, b] = await Promise.all(
      ['a', 'b'].map((which) =>
        alice.submit({
          name: uniqueName(`scoped-${which}`),
          tasks: [{ id: 'w', command: `echo ${which} > \${outputDir}/mine.txt` }],
        }),
      ),
    );
    await Promise.all([a!, b!].map((id) => alice.until(id, ['FINISHED'], 60_000)));
    // The URL Batch uploads job A's outputs and logs with: what a task of A could get hold of.
    const batch = new BatchServiceClient(
      new BatchSharedKeyCredentials(LOCAL_BATCH_ACCOUNT, LOCAL_BATCH_KEY),
      runtime.info.batchUrl!,
    );
    const task = await batch.task.get(a!, 'w');
    const urls = new Set((task.outputFiles ?? []).map((file) => file.destination.container!.containerUrl));
    expect(urls.size).toBe(1);
    const granted = new URL([...urls][0]!);
    expect(granted.pathname).toBe(
      `/${runtime.info.connectionString.includes('devstoreaccount1') ? 'devstoreaccount1/' : ''}jobdata-${a}`,
    );
    const put = (container: string, name: string) => {
      const url = new URL(granted);
      url.pathname = url.pathname.replace(`jobdata-${a}`, `${container}/${name}`);
      return fetch(url, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'overwritten' });
    };
    expect((await put(`jobdata-${a}`, `${a}/tasks/w/outputs/extra.txt`)).status).toBe(201);
    for (const [container, name] of [
      [`jobdata-${b}`, `${b}/tasks/w/outputs/mine.txt`],
      ['jobs', `${b}/spec.json`],
      ['uploads', 'alice/anything.csv'],
      ['job-inbox', 'alice/evil.json'],
    ] as const) {
      expect((await put(container, name)).status, `${container}/${name}`).toBe(403);
    }
    expect((await alice.call('GET', `/jobs/${b}/outputs/w/outputs/mine.txt`)).text).toBe('b\n');
  });

  it('should check https inputs before anything runs, refusing addresses inside the network', async () => {
    const id = await alice.submit({
      name: uniqueName('https-inputs'),
      inputs: [{ source: 'https://10.0.0.1/data.csv' }],
      tasks: [{ id: 'a', command: 'true', inputs: [{ source: 'https://169.254.169.254/metadata?sig=x' }] }],
    });
    const ended = await alice.until(id, ['FAILED', 'FINISHED'], 60_000);
    expect(ended).toMatchObject({ status: 'FAILED', condition: 'INVALID_INPUT' });
    expect(ended.message).toContain('https://10.0.0.1/data.csv: is refused: 10.0.0.1 is a private address');
    expect(ended.message).toContain('https://169.254.169.254/metadata?…: is refused');
    const history = await alice.history(id);
    expect(history.map((entry) => entry.status).slice(-2)).toEqual(['PROCESSING_INPUTS', 'FAILED']);
    expect(Object.keys(await alice.tasks(id))).toEqual([]);
  });

  it('should keep each user’s files their own: not listed, read, removed, written or used by another', async () => {
    const remote = `${uniqueName('mine')}/a.csv`;
    const url = (await alice.json<{ url: string }>('GET', `/files/upload-url?path=${remote}`)).body.url;
    expect(
      (await fetch(url, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'x,y\n' })).status,
    ).toBe(201);

    const bobs = await alice.json<{ items: Array<{ path: string }> }>(
      'GET',
      `/files?prefix=${remote}`,
      undefined,
      BOB,
    );
    expect(bobs.body.items).toEqual([]);
    expect((await alice.call('GET', `/files/${remote}`, undefined, BOB)).status).toBe(404);
    expect((await alice.call('DELETE', `/files/${remote}`, undefined, BOB)).status).toBe(404);
    expect(
      (await alice.call('GET', `/files/..%2Falice%2F${encodeURIComponent(remote)}`, undefined, BOB)).status,
    ).toBe(400);

    // Bob's upload URL writes his one blob: pointed at Alice's, storage refuses it.
    const his = (await alice.json<{ url: string }>('GET', `/files/upload-url?path=${remote}`, undefined, BOB))
      .body.url;
    expect(his).toContain(`/uploads/bob/${remote}?`);
    const forged = his.replace(`/uploads/bob/`, `/uploads/alice/`);
    expect(
      (await fetch(forged, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'evil' }))
        .status,
    ).toBe(403);
    expect((await alice.call('GET', `/files/${remote}`)).text).toBe('x,y\n');

    // A folder of hers, as an input: every file under it, each handed over on its own.
    const deeper = `${remote.split('/')[0]}/deep/b.csv`;
    const second = (await alice.json<{ url: string }>('GET', `/files/upload-url?path=${deeper}`)).body.url;
    await fetch(second, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'b\n' });
    const folderJob = await alice.submit({
      name: uniqueName('folder-input'),
      inputs: [{ source: `files://${remote.split('/')[0]}/`, target: 'in' }],
      tasks: [{ id: 'ls', command: 'cd in && find . -type f | sort && cat a.csv deep/b.csv' }],
    });
    expect((await alice.until(folderJob, ['FINISHED', 'FAILED'], 60_000)).status).toBe('FINISHED');
    expect((await alice.call('GET', `/jobs/${folderJob}/tasks/ls/logs/stdout`)).text).toBe(
      './a.csv\n./deep/b.csv\nx,y\nb\n',
    );

    // A job of Bob's naming the path reads his own files, where there is none; nor may he name Alice's folder.
    for (const source of [`files://${remote}`, `blob://uploads/alice/${remote}`]) {
      const id = await bob.submit({
        name: uniqueName('not-his'),
        inputs: [{ source }],
        tasks: [{ id: 'a', command: 'true' }],
      });
      const ended = await bob.until(id, ['FAILED', 'FINISHED'], 60_000);
      expect(ended).toMatchObject({ status: 'FAILED', condition: 'INVALID_INPUT' });
      expect(ended.message).toContain(
        source.startsWith('files')
          ? `files://${remote}: you have no such file`
          : "the app's own container uploads",
      );
    }
  });

  it('should give tasks their owner’s secrets, by name only, kept nowhere in the job', async () => {
    const name = uniqueName('api-token')
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-');
    const value = `alice-${randomBytes(12).toString('hex')}`;
    const bobsValue = `bob-${randomBytes(12).toString('hex')}`;
    const digest = (text: string) => createHash('sha256').update(text).digest('hex');

    // Piped in, as a script would; the trailing newline echo adds is not part of it.
    const set = await cloudjobs(['secrets', 'set', name], { stdin: `${value}\n` });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain(`{"secretRef":"${name}"}`);
    const listed = await cloudjobs(['secrets', 'ls', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ name, ref: { secretRef: name } })]);
    expect(listed.stdout).not.toContain(value);
    // Bob names the same secret: he has none, so his job is refused at the field.
    const refused = await bob.call('POST', '/jobs', {
      name: uniqueName('not-his-secret'),
      env: { TOKEN: { secretRef: name } },
      tasks: [{ id: 'a', command: 'true' }],
    });
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.text)).toMatchObject({
      code: 'SECRET_NOT_FOUND',
      errors: [{ path: 'env.TOKEN.secretRef' }],
    });
    expect((await bob.json('PUT', `/secrets/${name}`, { value: bobsValue })).status).toBe(200);

    // The task compares what it got by digest: nothing the job holds, not even its command, has the value.
    const run = (client: typeof alice) =>
      client.submit({
        name: uniqueName('uses-secret'),
        env: { TOKEN: { secretRef: name } },
        // Told of every job and task event, by webhook and by email: none may carry the value.
        notifications: [
          { url: receiver.url(`/${name}`), events: ['job.*', 'task.*'] },
          { email: 'alice@example.org', events: ['job.*', 'task.*'] },
        ],
        tasks: [
          { id: 'a', command: 'printf %s "$TOKEN" | sha256sum | cut -c1-64 > ${outputDir}/digest.txt' },
        ],
      });
    const [mine, his] = await Promise.all([run(alice), run(bob)]);
    expect((await alice.until(mine, ['FINISHED', 'FAILED'], 60_000)).status).toBe('FINISHED');
    expect((await bob.until(his, ['FINISHED', 'FAILED'], 60_000)).status).toBe('FINISHED');
    expect((await alice.call('GET', `/jobs/${mine}/outputs/a/outputs/digest.txt`)).text.trim()).toBe(
      digest(value),
    );
    expect(
      (await bob.call('GET', `/jobs/${his}/outputs/a/outputs/digest.txt`, undefined, BOB)).text.trim(),
    ).toBe(digest(bobsValue));

    // What the job and the app keep says the name and never the value: every blob of the job, every row
    // of the runtime's tables, the job as the API shows it, and everything the runtime logged.
    const job = await alice.call('GET', `/jobs/${mine}`);
    expect(job.text).toContain(`"secretRef":"${name}"`);
    const finalEvents = await waitFor(
      () => {
        const bodies = receiver.acceptedAt(`/${name}`).map((r) => r.body);
        return Promise.resolve(
          bodies.filter((body) => body.includes('"FINISHED"')).length >= 2 ? bodies : undefined,
        );
      },
      { timeoutMs: 30_000, what: 'both jobs’ FINISHED webhooks' },
    );
    const mails = await waitFor(
      async () => {
        const caught = await runtime.json<Array<{ text: string; subject: string }>>('/admin/local/mail');
        const about = caught.filter((m) => m.text.includes(mine) || m.text.includes(his));
        return about.some((m) => m.subject.includes('FINISHED')) ? about : undefined;
      },
      { timeoutMs: 30_000, what: 'the FINISHED email' },
    );
    const service = BlobServiceClient.fromConnectionString(runtime.info.connectionString);
    const kept: string[] = [job.text, runtime.output, ...finalEvents, ...mails.map((m) => m.text)];
    for (const container of ['jobs', `jobdata-${mine}`]) {
      for await (const blob of service.getContainerClient(container).listBlobsFlat({ prefix: `${mine}/` })) {
        kept.push(
          (
            await service.getContainerClient(container).getBlobClient(blob.name).downloadToBuffer()
          ).toString(),
        );
      }
    }
    expect(kept.join('\n')).toContain('"secretEnvironment":{"TOKEN"');
    const tables = TableServiceClient.fromConnectionString(runtime.info.connectionString, {
      allowInsecureConnection: true,
    });
    for await (const table of tables.listTables()) {
      if (!table.name!.startsWith(runtime.options.env!.CLOUDJOBS_TABLE_PREFIX!)) continue;
      const rows = TableClient.fromConnectionString(runtime.info.connectionString, table.name!, {
        allowInsecureConnection: true,
      });
      for await (const row of rows.listEntities()) kept.push(JSON.stringify(row));
    }
    expect(finalEvents.some((body) => body.includes('task.status.changed'))).toBe(true);
    expect(kept.length).toBeGreaterThan(10);
    for (const text of kept) {
      expect(text).not.toContain(value);
      expect(text).not.toContain(bobsValue);
    }
    // The runtime's stand-in for Key Vault: a file for its user alone.
    const file = path.join(runtime.home, 'secrets.json');
    expect((await readFile(file, 'utf8')).includes(value)).toBe(true);
    expect((await stat(file)).mode & 0o077).toBe(0);

    expect((await cloudjobs(['secrets', 'rm', name])).code).toBe(0);
    expect((await cloudjobs(['secrets', 'ls', '--json'])).stdout.trim()).toBe('[]');
    const gone = await alice.call('POST', '/jobs', {
      name: uniqueName('secret-gone'),
      tasks: [{ id: 'a', command: 'true', env: { TOKEN: { secretRef: name } } }],
    });
    expect(JSON.parse(gone.text)).toMatchObject({ errors: [{ path: 'tasks[0].env.TOKEN.secretRef' }] });
    // Bob's, of the same name, is his and still there.
    expect((await bob.json<{ items: unknown[] }>('GET', '/secrets', undefined, BOB)).body.items).toHaveLength(
      1,
    );
  });
});

// Retention on a runtime of its own: its sweep must not reach the jobs of the tests above.
describe('retention on the embedded runtime', () => {
  // 0.0001 days is 8.64 seconds: old enough to be forgotten within a test.
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: {
      CLOUDJOBS_API_TOKENS: `alice=${ALICE}`,
      CLOUDJOBS_TABLE_PREFIX: uniqueName('r'),
      CLOUDJOBS_RETENTION_DAYS: '0.0001',
    },
  });
  const alice = jobClient(runtime, ALICE);

  it('should forget a job past its age with all it left, and keep a younger and a running one', async () => {
    const run = async (command: string) =>
      alice.submit({
        name: uniqueName('kept'),
        tasks: [{ id: 'a', command: `${command}; echo x > \${outputDir}/x` }],
      });
    const old = await run('true');
    const ended = await alice.until(old, ['FINISHED'], 60_000);
    const running = await run('sleep 120');
    // Past the retention age (measured by the job's own last change), then a young one.
    await waitFor(() => (Date.now() - Date.parse(ended.updatedAt) > 9000 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the first job to age',
    });
    const young = await run('true');
    await alice.until(young, ['FINISHED'], 60_000);
    await alice.until(running, ['RUNNING'], 60_000);

    expect((await runtime.fetch('/admin/functions/retentionSweep', { method: 'POST' })).status).toBe(202);
    await waitFor(async () => ((await alice.call('GET', `/jobs/${old}`)).status === 404 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'retention to forget the old job',
    });
    expect(await leftBehind(runtime, old)).toEqual({
      blobs: [],
      rows: [],
      batchJob: false,
      history: false,
      container: false,
    });
    expect((await alice.job(young)).status).toBe('FINISHED');
    expect((await alice.job(running)).status).toBe('RUNNING');
    expect((await leftBehind(runtime, young)).blobs.length).toBeGreaterThan(0);
    await alice.call('POST', `/jobs/${running}/cancel`);
  });
});

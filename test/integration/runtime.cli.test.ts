import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ROOT, RUNTIME_CLI, RuntimeProcess, uniqueName } from '../support/runtimeProcess.js';
import { startOrchestration, waitForCompletion, readStatus } from '../support/durable.js';
import { probeStorage } from '../../infra/local/storage/azurite.js';
import { waitFor } from '../support/waitFor.js';

const APP = path.join(ROOT, 'test/integration/fixtures/conformance');

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

/** Runs the CLI to completion and returns its exit code and output. */
async function runCli(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [...RUNTIME_CLI, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

describe('embedded runtime: command line', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('should exit non-zero with a clear message when the API port is taken', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const home = await mkdtemp(path.join(tmpdir(), 'cloudjobs-cli-'));
      dirs.push(home);
      const ports = [await freePort(), await freePort(), await freePort()].join(',');
      const { code, output } = await runCli([
        '--app',
        APP,
        '--port',
        String(port),
        '--storage-ports',
        ports,
        '--in-memory',
        '--home',
        home,
      ]);
      expect(code).toBe(1);
      expect(output).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(output).toContain('CLOUDJOBS_PORT');
    } finally {
      blocker.close();
    }
  });

  it.each([
    [
      'an app without host.json',
      async (dir: string) => writeFile(path.join(dir, 'package.json'), '{}'),
      /has no host\.json/,
    ],
    [
      'a host.json of the wrong version',
      async (dir: string) => writeFile(path.join(dir, 'host.json'), '{"version": "1.0"}'),
      /host\.json is invalid:\n\s+- version/,
    ],
    [
      'a main that matches nothing',
      async (dir: string) => {
        await writeFile(path.join(dir, 'host.json'), '{"version": "2.0"}');
        await writeFile(path.join(dir, 'package.json'), '{"main": "dist/functions/*.js"}');
      },
      /matches no file .* has the app been built\?/,
    ],
  ])('should refuse to start %s, saying why', async (_case, prepare, message) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cloudjobs-badapp-'));
    dirs.push(dir);
    await mkdir(dir, { recursive: true });
    await prepare(dir);
    const { code, output } = await runCli([
      '--app',
      dir,
      '--port',
      '0',
      '--storage',
      'BlobEndpoint=http://127.0.0.1:1/a;QueueEndpoint=http://127.0.0.1:1/a;TableEndpoint=http://127.0.0.1:1/a',
    ]);
    expect(code).toBe(1);
    expect(output).toMatch(message);
  });

  it('should run its own Azurite with data under the state directory, keep it across a restart, and stop it on exit', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'cloudjobs-home-'));
    dirs.push(home);
    const ports = [await freePort(), await freePort(), await freePort()];
    const args = ['--storage-ports', ports.join(','), '--home', home];
    const options = { app: APP, storage: '', args, namespace: uniqueName('managed') };
    const first = new ManagedRuntime(options);
    await first.start();
    expect(first.info.storage.blob).toBe(`http://127.0.0.1:${ports[0]}/devstoreaccount1`);
    const id = await startOrchestration(first, 'fanOut', 5);
    await waitForCompletion(first, id);
    await first.stop();
    expect(await Promise.all(ports.map((p) => probeStorage(`http://127.0.0.1:${p}/`)))).toEqual([
      'none',
      'none',
      'none',
    ]);

    const second = new ManagedRuntime(options);
    await second.start();
    try {
      const status = await readStatus(second, id);
      expect(status).toMatchObject({ runtimeStatus: 'Completed', output: [0, 1, 4, 9, 16] });
    } finally {
      await second.stop();
    }
  });
});

/** A runtime that manages its own Azurite (no --storage). */
class ManagedRuntime extends RuntimeProcess {
  protected override storageArgs(): string[] {
    return [];
  }
}

describe('embedded runtime: one runtime per task hub', () => {
  it('should refuse a second runtime on a task hub that a live runtime holds', async () => {
    const namespace = uniqueName('owner');
    const first = new RuntimeProcess({ app: APP, storage: inject('azurite'), namespace });
    await first.start();
    try {
      const second = new RuntimeProcess({ app: APP, storage: inject('azurite'), namespace });
      await expect(second.start()).rejects.toThrow(/task hub \w+ is in use by another runtime \(process \d+/);
      await second.dispose();
    } finally {
      await first.dispose();
    }
  });

  it('should refuse --batch-faults that are not faults, naming the key', async () => {
    const unknown = await runCli(['--app', APP, '--batch-faults', '{"throttle":0.5}']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.output).toMatch(/--batch-faults.*Unrecognized key: "throttle"/);
    const outOfRange = await runCli(['--app', APP, '--batch-faults', '{"throttleRate":2}']);
    expect(outOfRange.output).toMatch(/throttleRate: Too big/);
  });

  it('should start the local Batch service with the faults given, and change only the ones asked later', async () => {
    const runtime = new RuntimeProcess({
      app: APP,
      storage: inject('azurite'),
      args: ['--batch-faults', '{"latencyMs":5,"throttleRate":0.25}'],
    });
    try {
      const info = await runtime.start();
      const faults = async (init?: RequestInit) => {
        const response = await fetch(`${info.batchUrl!}/_local/faults`, init);
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      expect((await faults()).body).toMatchObject({ latencyMs: 5, throttleRate: 0.25, preemptRate: 0 });
      const put = (body: string) => faults({ method: 'PUT', body });
      expect(await put('{"latencyMs":0}')).toMatchObject({
        status: 200,
        body: { latencyMs: 0, throttleRate: 0.25 },
      });
      expect((await put('{"latency":0}')).status).toBe(400);
      expect((await faults()).body).toMatchObject({ latencyMs: 0, throttleRate: 0.25 });
    } finally {
      await runtime.dispose();
    }
  });
});

describe('embedded runtime: shutdown', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  /** The CLI with its own Azurite on free ports, in a process group of its own, until it is ready. */
  async function startManaged(prefix: string) {
    const home = await mkdtemp(path.join(tmpdir(), prefix));
    dirs.push(home);
    const ports = [await freePort(), await freePort(), await freePort()];
    const readyFile = path.join(home, 'ready.json');
    const child = spawn(
      process.execPath,
      [
        ...RUNTIME_CLI,
        '--app',
        APP,
        '--port',
        '0',
        '--storage-ports',
        ports.join(','),
        '--batch-port',
        '0',
        '--smtp-port',
        '0',
        '--home',
        home,
        '--ready-file',
        readyFile,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    const run = { home, ports, child, output: '', exited: once(child, 'exit') };
    child.stdout.on('data', (c: Buffer) => (run.output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (run.output += c.toString()));
    await waitFor(async () => ((await readFile(readyFile, 'utf8').catch(() => '')) ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: `the runtime to be ready\n${run.output}`,
    });
    return run;
  }

  // Ctrl+C in a terminal signals the whole foreground process group, runtime and children alike;
  // so does `kill -TERM -<pgid>`. The runtime must still stop its pieces in order, and quickly.
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'should stop everything in order within 3 s when %s reaches its whole process group',
    async (signal) => {
      const run = await startManaged('cloudjobs-stop-');
      const { ports, child, exited } = run;
      const blob = `http://127.0.0.1:${ports[0]}/`;
      expect(await probeStorage(blob)).toBe('azurite');

      const started = Date.now();
      process.kill(-child.pid!, signal);
      const [code] = (await exited) as [number | null];
      const took = Date.now() - started;
      expect(code, run.output).toBe(0);
      expect(took, run.output).toBeLessThan(3000);
      // Storage stopped after what used it: nothing lost its connection to it on the way down.
      expect(run.output).not.toMatch(/ECONNREFUSED|lost the lease/);
      await waitFor(async () => ((await probeStorage(blob)) === 'none' ? true : undefined), {
        timeoutMs: 5000,
        intervalMs: 50,
        what: 'Azurite to have stopped',
      });
    },
  );

  it('should say so and stop within seconds when its Azurite dies on its own', async () => {
    const run = await startManaged('cloudjobs-storage-gone-');
    const { home, exited } = run;
    // Azurite, in a process group of its own, killed from outside (as by a stray kill or a crash).
    const azurite = Number(
      execFileSync('pgrep', ['-f', `location ${path.join(home, 'azurite')}`])
        .toString()
        .trim(),
    );
    const started = Date.now();
    process.kill(-azurite, 'SIGKILL');
    const [code] = (await exited) as [number | null];
    expect(code, run.output).toBe(1);
    expect(Date.now() - started, run.output).toBeLessThan(5000);
    expect(run.output).toContain('Azurite, the storage it runs on, exited (killed by SIGKILL): stopping');
  });
});

describe('embedded runtime: bindings out of scope', () => {
  const app = path.join(ROOT, 'test/integration/fixtures/outOfScope');

  it('should run the rest of an app whose functions use bindings it does not serve, saying why', async () => {
    const runtime = new RuntimeProcess({ app, storage: inject('azurite') });
    try {
      await runtime.start();
      const hello = await runtime.fetch('/api/hello');
      expect(hello.status).toBe(200);
      expect(await hello.text()).toBe('hello');
      const refused = await runtime.fetch('/api/notes', { method: 'POST', body: 'a note' });
      expect(refused.status).toBe(503);
      expect(await refused.text()).toBe(
        'function "saveNote" is disabled on the embedded runtime: output binding "doc" of type "cosmosDB" is not supported\n',
      );
      expect(runtime.output).toContain(
        'function "saveNote" is disabled: output binding "doc" of type "cosmosDB"',
      );
      expect(runtime.output).toContain(
        'function "fromKafka" is disabled: trigger type "kafkaTrigger" is not supported',
      );
    } finally {
      await runtime.dispose();
    }
  });

  it('should refuse to start such an app with --strict, naming every binding', async () => {
    const runtime = new RuntimeProcess({ app, storage: inject('azurite'), args: ['--strict'] });
    try {
      await expect(runtime.start()).rejects.toThrow(
        /does not serve:\n\s+- function "saveNote": output binding "doc" of type "cosmosDB" is not supported\n\s+- function "fromKafka": trigger type "kafkaTrigger" is not supported/,
      );
    } finally {
      await runtime.dispose();
    }
  });
});

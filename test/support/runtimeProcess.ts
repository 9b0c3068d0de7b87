import { afterAll, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StopWaiting, waitFor } from './waitFor.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RuntimeInfo {
  url: string;
  /** The runtime's local Batch service, unless it was started with --no-batch. */
  batchUrl?: string;
  storage: { blob: string; queue: string; table: string };
  connectionString: string;
  hubName: string;
  functions: string[];
}

export interface RuntimeProcessOptions {
  app: string;
  /** Connection string of a running Azurite (direct endpoints). */
  storage: string;
  namespace?: string;
  env?: Record<string, string>;
  args?: string[];
}

/** Unique, storage-safe name for one test's resources. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

/**
 * The embedded runtime as a child process, started the way `npm start` starts it (the CLI), on a
 * free port, against a shared Azurite, with its own namespace.
 */
/** Node's arguments that run the runtime's command line from the sources, as the tests start it. */
export const RUNTIME_CLI = ['--import', 'tsx', path.join(ROOT, 'infra/local/cli.ts')];

export class RuntimeProcess {
  readonly namespace: string;
  info!: RuntimeInfo;
  #child: ChildProcess | undefined;
  #output = '';
  #dir = '';

  constructor(readonly options: RuntimeProcessOptions) {
    this.namespace = options.namespace ?? uniqueName('t');
  }

  /** How the runtime reaches storage: the shared Azurite by default. */
  protected storageArgs(): string[] {
    return ['--storage', this.options.storage];
  }

  get url(): string {
    return this.info.url;
  }

  /** The runtime's process id while it runs, for figures such as its CPU time. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The runtime's state directory (`--home`). */
  get home(): string {
    return this.#dir;
  }

  get output(): string {
    return this.#output;
  }

  async start(): Promise<RuntimeInfo> {
    this.#dir ||= await mkdtemp(path.join(tmpdir(), 'cloudjobs-runtime-'));
    const readyFile = path.join(this.#dir, `ready-${Date.now()}.json`);
    const child = spawn(
      process.execPath,
      [
        ...RUNTIME_CLI,
        '--app',
        this.options.app,
        '--port',
        '0',
        ...this.storageArgs(),
        '--namespace',
        this.namespace,
        '--home',
        this.#dir,
        '--batch-port',
        '0',
        '--smtp-port',
        '0',
        '--ready-file',
        readyFile,
        ...(this.options.args ?? []),
      ],
      {
        cwd: ROOT,
        env: { ...process.env, ...this.options.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.#child = child;
    const collect = (chunk: Buffer) => {
      this.#output += chunk.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    this.info = await waitFor(
      async () => {
        if (exited) throw new StopWaiting('the runtime exited before it was ready');
        try {
          return JSON.parse(await readFile(readyFile, 'utf8')) as RuntimeInfo;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 60_000, what: 'the runtime to start' },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n--- runtime output ---\n${this.#output}`);
    });
    return this.info;
  }

  /** Stops the runtime the way Ctrl+C does. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  /** Kills the runtime with SIGKILL: no chance to clean up. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
  }

  async fetch(pathname: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.info.url}${pathname}`, init);
  }

  async json<T>(pathname: string, init?: RequestInit): Promise<T> {
    const response = await this.fetch(pathname, init);
    if (!response.ok)
      throw new Error(
        `${init?.method ?? 'GET'} ${pathname}: HTTP ${response.status} ${await response.text()}`,
      );
    return (await response.json()) as T;
  }
}

/**
 * A runtime for a whole test file: started before its tests, stopped after. Call inside
 * `describe`, at the top level of the suite.
 */
export function useRuntime(options: RuntimeProcessOptions): RuntimeProcess {
  const runtime = new RuntimeProcess(options);
  beforeAll(async () => {
    await runtime.start();
  });
  afterAll(async () => {
    await runtime.dispose();
  });
  return runtime;
}

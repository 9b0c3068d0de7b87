import { spawn, type ChildProcess } from 'node:child_process';

/** What to start: a program with its arguments, directory, environment and log files. */
export interface LaunchRequest {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Files the process's stdout and stderr are written to (created or truncated). */
  stdout: string;
  stderr: string;
  /**
   * Where the helper records the process: a file named by its pid, holding `owner` as JSON, and
   * then its exit. The helper writes both itself, so a process that ends while the runtime is
   * down (the helper outlives it) is known to have ended, and how.
   */
  registry: { directory: string; owner: Record<string, string> };
  /**
   * A directory to empty (`remove`, deleted with all it holds) and lay out again (`create`) before
   * the log files are opened: a task's first attempt starts in a fresh task directory. The helper
   * does it because its event loop is idle, where the runtime's queues each file system call
   * behind the whole app's work (three such waits were about 15 ms of every short task).
   */
  fresh?: { remove: string; create: string };
}

/** How a launched process ended. */
export type LaunchOutcome =
  | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'error'; code?: string; message: string; phase?: 'directory' };

/** A process the launcher started (or failed to start). */
export interface Launched {
  /** The process id, once started; undefined when it could not be started. */
  readonly started: Promise<number | undefined>;
  readonly ended: Promise<LaunchOutcome>;
}

type HelperMessage =
  | { id: number; t: 'spawned'; pid: number }
  | { id: number; t: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { id: number; t: 'error'; code?: string; message: string; phase?: 'directory' };

// The helper is a bare Node process: it starts each task in a process group of its own with its
// output going straight to its log files, and reports the pid and the exit. Signals meant for
// the runtime's terminal group do not stop it; the runtime closing the channel (or dying) does.
const HELPER_SOURCE = `
const { spawn } = require('node:child_process');
const { closeSync, fstatSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } = require('node:fs');
const { join } = require('node:path');
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
let running = 0;
let orphaned = false;
// Without the runtime it stays until the processes it started have ended, to record their exits.
process.on('disconnect', () => {
  orphaned = true;
  if (running === 0) process.exit(0);
});
// The runtime may be gone before the helper hears of it: a send without a callback would then
// raise an uncaught error and take the helper down, and with it the exits it is there to record.
const send = (message) => { if (process.connected) process.send(message, () => {}); };
const recordExit = (file, exit) => {
  try {
    // Only into a record that still exists: the runtime deletes it once it has seen the exit.
    const fd = openSync(file, 'r+');
    try { writeSync(fd, '\\n' + JSON.stringify(exit), fstatSync(fd).size); } finally { closeSync(fd); }
  } catch {}
};
process.on('message', (request) => {
  if (request.fresh) {
    try {
      rmSync(request.fresh.remove, { recursive: true, force: true });
      mkdirSync(request.fresh.create, { recursive: true });
    } catch (error) {
      send({ id: request.id, t: 'error', code: error.code, message: error.message, phase: 'directory' });
      return;
    }
  }
  const fds = [];
  try {
    fds.push(openSync(request.stdout, 'w'), openSync(request.stderr, 'w'));
    const child = spawn(request.file, request.args, {
      cwd: request.cwd,
      env: request.env,
      detached: true,
      stdio: ['ignore', fds[0], fds[1]],
    });
    child.once('error', (error) => send({ id: request.id, t: 'error', code: error.code, message: error.message }));
    if (child.pid !== undefined) {
      const file = join(request.registry.directory, String(child.pid));
      writeFileSync(file, JSON.stringify(request.registry.owner));
      running++;
      child.once('exit', (code, signal) => {
        recordExit(file, { code, signal });
        send({ id: request.id, t: 'exit', code, signal });
        running--;
        if (orphaned && running === 0) process.exit(0);
      });
      send({ id: request.id, t: 'spawned', pid: child.pid });
    }
  } catch (error) {
    send({ id: request.id, t: 'error', code: error.code, message: error.message });
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});
`;

interface Pending {
  started: (pid: number | undefined) => void;
  ended: (outcome: LaunchOutcome) => void;
}

/**
 * Starts task processes from a small helper process rather than from the runtime itself.
 * Starting a process forks its parent: from the runtime (hundreds of MB mapped) that blocked the
 * event loop about 4 ms per task, the largest single cost of a job of short tasks (CPU profile of
 * a 5,000-task job: 22 s of 72). The helper is a bare Node process, so forking it is cheap, and
 * it does so on its own core.
 */
export class ProcessLauncher {
  #helper: ChildProcess | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  /** Starts a process; its start and its end are reported on the returned promises. */
  launch(request: LaunchRequest): Launched {
    let pending!: Pending;
    const launched: Launched = {
      started: new Promise((resolve) => {
        pending = { started: resolve, ended: () => undefined };
      }),
      ended: new Promise((resolve) => {
        pending.ended = resolve;
      }),
    };
    if (this.#closed) {
      pending.started(undefined);
      pending.ended({ kind: 'error', message: 'the node is shutting down' });
      return launched;
    }
    const id = this.#nextId++;
    this.#pending.set(id, pending);
    const helper = this.#ensureHelper();
    helper.channel?.ref();
    helper.send({ id, ...request }, (error: Error | null) => {
      if (error)
        this.#settle(id, { kind: 'error', message: `the process launcher failed: ${error.message}` });
    });
    return launched;
  }

  /** Stops the helper once nothing it started is still reported on. */
  async close(): Promise<void> {
    this.#closed = true;
    const helper = this.#helper;
    if (!helper || helper.exitCode !== null || helper.signalCode !== null) return;
    const exited = new Promise((resolve) => helper.once('exit', resolve));
    if (helper.connected) helper.disconnect();
    await exited;
  }

  #ensureHelper(): ChildProcess {
    if (this.#helper?.connected) return this.#helper;
    const helper = spawn(process.execPath, ['-e', HELPER_SOURCE], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    helper.on('message', (message: HelperMessage) => this.#onMessage(message));
    helper.once('exit', (code, signal) => {
      if (this.#helper === helper) this.#helper = undefined;
      // Whatever it had started is no longer watched: those tasks end as launch failures (their
      // process groups are in the node's registry, which kills them).
      const reason = `the process launcher exited (${signal ?? `code ${code}`})`;
      for (const id of [...this.#pending.keys()]) this.#settle(id, { kind: 'error', message: reason });
    });
    helper.unref();
    this.#helper = helper;
    return helper;
  }

  #onMessage(message: HelperMessage): void {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    if (message.t === 'spawned') {
      pending.started(message.pid);
      return;
    }
    this.#settle(
      message.id,
      message.t === 'exit'
        ? { kind: 'exit', code: message.code, signal: message.signal }
        : {
            kind: 'error',
            ...(message.code ? { code: message.code } : {}),
            ...(message.phase ? { phase: message.phase } : {}),
            message: message.message,
          },
    );
  }

  #settle(id: number, outcome: LaunchOutcome): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    pending.started(undefined);
    pending.ended(outcome);
    if (this.#pending.size === 0) this.#helper?.channel?.unref();
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT, type RuntimeProcess } from './runtimeProcess.js';

/** What a CLI run ended with. */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** How to run one command. */
export interface CliRunOptions {
  token?: string;
  url?: string;
  /** Inside a pseudo-terminal (util-linux `script`), so the CLI sees one; its output comes back on stdout. */
  tty?: boolean;
  stdin?: string;
  /** Only what `cloudjobs login` kept (in `<configDir>/../login`) says where to go and who is asking. */
  profileOnly?: boolean;
  /** Told of the process as it starts, e.g. to kill it part way. */
  started?: (child: ChildProcess) => void;
  /** Through `npx cloudjobs`, as the README has a newcomer run it (npx adds about 1.5-2 s a run). */
  npx?: boolean;
}

/** The `cloudjobs` command: the file npm links as the package's bin. */
export const CLI = path.join(ROOT, 'cli/cloudjobs.js');

/** The command line that runs `cloudjobs args`, as the linked command or through npx. */
export function cliCommand(args: string[], npx = false): [string, ...string[]] {
  return npx ? ['npx', '--no-install', 'cloudjobs', ...args] : [process.execPath, CLI, ...args];
}

/**
 * Runs `cloudjobs ...` as a user would, in the clone, against `runtime` as the user whose token
 * is `token`, with its profile in `configDir` (a developer's own must not leak in). The process
 * leads its own group, so killing the group stops it and anything under it (npx, `script`).
 */
export function cliRunner(runtime: RuntimeProcess, defaultToken: string, configDir: () => string) {
  return (args: string[], options: CliRunOptions = {}): Promise<Ran> => {
    const { CLOUDJOBS_URL: _url, CLOUDJOBS_TOKEN: _token, ...inherited } = process.env;
    const env = {
      ...inherited,
      ...(options.profileOnly
        ? {}
        : { CLOUDJOBS_URL: options.url ?? runtime.url, CLOUDJOBS_TOKEN: options.token ?? defaultToken }),
      CLOUDJOBS_CONFIG_DIR: options.profileOnly ? path.join(configDir(), '..', 'login') : configDir(),
      NO_COLOR: '1',
    };
    const [file, ...rest] = cliCommand(args, options.npx);
    const quoted = [file, ...rest].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = options.tty
      ? spawn('script', ['-qfec', `stty cols 120; ${quoted}`, '/dev/null'], {
          cwd: ROOT,
          env,
          detached: true,
        })
      : spawn(file, rest, { cwd: ROOT, env, detached: true });
    options.started?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    if (options.stdin !== undefined) child.stdin.end(options.stdin);
    else child.stdin.end();
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  };
}

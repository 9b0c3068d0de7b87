import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import type { ComponentLogger } from '../host/logger.js';
import { accountUrl, type StorageEndpoints } from './account.js';
import { AZURITE_PREAMBLE } from './azuritePreamble.js';

export interface AzuriteOptions {
  host: string;
  /** 0 picks a free port. */
  blobPort: number;
  queuePort: number;
  tablePort: number;
  /** Data directory; omitted means in memory. */
  location?: string;
  /**
   * Serve https with this certificate and accept Microsoft Entra bearer tokens (Azurite checks
   * their issuer, audience and lifetime, not their signature), to try identity-based access.
   */
  oauth?: { certPath: string; keyPath: string };
  logger: ComponentLogger;
  /** Azurite exited when it was not asked to (killed, or crashed), saying how. */
  onUnexpectedExit?: (how: string) => void;
}

export interface AzuriteHandle {
  endpoints: StorageEndpoints;
  stop(): Promise<void>;
}

/** Answers what is listening at a storage port: Azurite, something else, or nothing. */
export async function probeStorage(url: string): Promise<'azurite' | 'other' | 'none'> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    return /azurite/i.test(response.headers.get('server') ?? '') ? 'azurite' : 'other';
  } catch {
    return 'none';
  }
}

/** Starts Azurite from its npm package and resolves once all three services listen. */
export async function startAzurite(options: AzuriteOptions): Promise<AzuriteHandle> {
  const { host, logger } = options;
  const require = createRequire(import.meta.url);
  const bin = require.resolve('azurite/dist/src/azurite.js');
  const args = [
    '--blobHost',
    host,
    '--blobPort',
    String(options.blobPort),
    '--queueHost',
    host,
    '--queuePort',
    String(options.queuePort),
    '--tableHost',
    host,
    '--tablePort',
    String(options.tablePort),
    '--skipApiVersionCheck',
    '--loose',
    '--disableProductStyleUrl',
    '--disableTelemetry',
    '--silent',
    // Azurite closes idle connections after 5 s by default; a client that reuses one just as it
    // closes sees ECONNRESET. Clients here drop idle sockets sooner than this.
    '--blobKeepAliveTimeout',
    '600',
    '--queueKeepAliveTimeout',
    '600',
    '--tableKeepAliveTimeout',
    '600',
  ];
  if (options.oauth) {
    args.push('--oauth', 'basic', '--cert', options.oauth.certPath, '--key', options.oauth.keyPath);
  }
  if (options.location) {
    await mkdir(options.location, { recursive: true });
    args.push('--location', options.location);
  } else {
    args.push('--inMemoryPersistence');
  }

  // In a process group of its own: Ctrl+C at a terminal (SIGINT to the foreground group) or a
  // signal to the runtime's group must reach the runtime alone, which stops Azurite after what
  // uses it. Were Azurite signalled too it would die first and the rest would stop against a
  // dead store, slowly (17-31 s) and with lost leases. The preamble's IPC watch still ends it if
  // the runtime dies without stopping it.
  const child = spawn(process.execPath, ['-e', AZURITE_PREAMBLE, '--', ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, CLOUDJOBS_AZURITE_BIN: bin },
    detached: true,
  });
  const ports = await waitForListening(child, logger);
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping) options.onUnexpectedExit?.(signal ? `killed by ${signal}` : `exit code ${code}`);
  });
  const scheme = options.oauth ? 'https' : 'http';
  const endpoints = {
    blob: accountUrl(host, ports.blob, scheme),
    queue: accountUrl(host, ports.queue, scheme),
    table: accountUrl(host, ports.table, scheme),
  };
  logger.info(
    `Azurite started (blob ${ports.blob}, queue ${ports.queue}, table ${ports.table}; ` +
      `${options.location ? `data in ${options.location}` : 'in memory'})`,
  );

  return {
    endpoints,
    stop: async () => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      if (child.connected) child.send('shutdown');
      else child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitForListening(
  child: ChildProcess,
  logger: ComponentLogger,
): Promise<{ blob: number; queue: number; table: number }> {
  const found: Partial<Record<'blob' | 'queue' | 'table', number>> = {};
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const match of output.matchAll(
        /Azurite (Blob|Queue|Table) service is successfully listening at https?:\/\/[^:]+:(\d+)/g,
      )) {
        found[match[1]!.toLowerCase() as 'blob' | 'queue' | 'table'] = Number(match[2]);
      }
      if (found.blob && found.queue && found.table) {
        cleanup();
        resolve({ blob: found.blob, queue: found.queue, table: found.table });
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`Azurite exited before it was ready (code ${code}):\n${output.trim()}`));
    };
    const cleanup = () => {
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.stdout?.on('data', (c: Buffer) => logger.debug(c.toString().trim()));
      child.stderr?.on('data', (c: Buffer) => logger.warn(c.toString().trim()));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', onExit);
  });
}

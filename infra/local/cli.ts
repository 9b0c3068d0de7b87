#!/usr/bin/env node
import { cpus } from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { faultsPatchSchema, type Faults } from './batch/localBatch.js';
import { parseLogLevel } from './host/logger.js';
import type { z } from 'zod';
import { deliveryFaultsSchema, type DeliveryFaults } from './deliveryFaults.js';
import { Runtime, type StorageOption } from './runtime.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('expected a port number (0-65535)');
  return n;
}

function ports(value: string): [number, number, number] {
  const parts = value.split(',').map((p) => port(p.trim()));
  if (parts.length !== 3) throw new InvalidArgumentError('expected three ports: blob,queue,table');
  return parts as [number, number, number];
}

function batchFaults(value: string): Partial<Faults> {
  return jsonOption(value, faultsPatchSchema);
}

function jsonOption<T extends z.ZodType>(value: string, schema: T): z.infer<T> {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('expected a JSON object');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new InvalidArgumentError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    );
  }
  return parsed.data;
}

const program = new Command()
  .name('cloudjobs-local')
  .description(
    'Runs the cloudjobs function app on one machine: Functions host, Durable, Service Bus, Event Grid, Batch and Azurite.',
  )
  .option('--app <dir>', 'function app directory (host.json, package.json)', process.cwd())
  .addOption(
    new Option('--port <port>', 'HTTP port for the API').argParser(port).env('CLOUDJOBS_PORT').default(7071),
  )
  .addOption(new Option('--home <dir>', 'state directory').env('CLOUDJOBS_HOME'))
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .option(
    '--storage-ports <blob,queue,table>',
    'ports for the storage endpoints (Azurite)',
    ports,
    [10000, 10001, 10002],
  )
  .option('--in-memory', 'keep storage in memory instead of under the state directory')
  .option(
    '--storage <connectionString>',
    'use an Azurite that is already running (direct endpoints) instead of starting one',
  )
  .option('--blob-port <port>', 'port of the blob endpoint (Event Grid proxy) when --storage is given', port)
  .addOption(
    new Option('--batch-port <port>', 'port of the local Batch service')
      .argParser(port)
      .env('CLOUDJOBS_BATCH_PORT')
      .default(10100),
  )
  .option('--batch-slots <n>', 'task slots of the local Batch service\'s pool "local"', (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
    return n;
  })
  .addOption(
    new Option(
      '--batch-faults <json>',
      'faults the local Batch service injects, e.g. {"latencyMs":20,"throttleRate":0.1}',
    )
      .argParser(batchFaults)
      .env('CLOUDJOBS_BATCH_FAULTS'),
  )
  .option('--no-batch', 'do not run the local Batch service')
  .addOption(
    new Option('--smtp-port <port>', 'port of the SMTP catcher that receives email notifications')
      .argParser(port)
      .env('CLOUDJOBS_SMTP_PORT')
      .default(2525),
  )
  .addOption(
    new Option(
      '--delivery-faults <json>',
      'duplicated and lost signals, e.g. {"eventGridDuplicateRate":1,"serviceBusDuplicateRate":1,"eventGridDropRate":0.3}',
    )
      .argParser((value) => jsonOption(value, deliveryFaultsSchema))
      .env('CLOUDJOBS_DELIVERY_FAULTS'),
  )
  .option('--namespace <prefix>', "prefix for the runtime's own storage names, to share one Azurite")
  .option(
    '--event-grid-retry-delays <ms,...>',
    "Event Grid retry delays in milliseconds (default: Azure's schedule)",
  )
  .option('--web <dir>', 'a built static site to serve at / (default: dist/web of the app, when built)')
  .option('--no-web', 'serve no static site, only the API')
  .option('--ready-file <file>', "write the runtime's URLs here (JSON) once it is ready")
  .option(
    '--strict',
    'refuse to start an app with a binding this runtime does not serve (default: disable that function)',
  )
  .addOption(
    new Option('--log-level <level>', 'trace, debug, information, warning, error').env('CLOUDJOBS_LOG_LEVEL'),
  );

program.parse();
const opts = program.opts<{
  app: string;
  port: number;
  home?: string;
  host: string;
  storagePorts: [number, number, number];
  inMemory?: boolean;
  storage?: string;
  blobPort?: number;
  batchPort: number;
  smtpPort: number;
  batchSlots?: number;
  batchFaults?: Partial<Faults>;
  deliveryFaults?: DeliveryFaults;
  batch: boolean;
  namespace?: string;
  eventGridRetryDelays?: string;
  readyFile?: string;
  strict?: boolean;
  logLevel?: string;
  web?: string | false;
}>();

function parseConnectionString(text: string): StorageOption {
  const parts = new Map(
    text
      .split(';')
      .filter((p) => p.includes('='))
      .map((p) => [p.slice(0, p.indexOf('=')).toLowerCase(), p.slice(p.indexOf('=') + 1)] as const),
  );
  const blob = parts.get('blobendpoint');
  const queue = parts.get('queueendpoint');
  const table = parts.get('tableendpoint');
  if (!blob || !queue || !table) {
    throw new InvalidArgumentError(
      '--storage needs a connection string with BlobEndpoint, QueueEndpoint and TableEndpoint',
    );
  }
  return { kind: 'external', endpoints: { blob, queue, table } };
}

const logLevel = parseLogLevel(opts.logLevel);
const runtime = new Runtime({
  appDir: path.resolve(opts.app),
  home: path.resolve(opts.home ?? path.join(process.cwd(), '.cloudjobs')),
  host: opts.host,
  port: opts.port,
  storage: opts.storage
    ? parseConnectionString(opts.storage)
    : {
        kind: 'managed',
        blobPort: opts.storagePorts[0],
        queuePort: opts.storagePorts[1],
        tablePort: opts.storagePorts[2],
        inMemory: opts.inMemory === true,
      },
  ...(opts.blobPort !== undefined ? { blobPort: opts.blobPort } : {}),
  batch: opts.batch
    ? {
        port: opts.batchPort,
        slots: opts.batchSlots ?? Math.max(2, cpus().length * 2),
        ...(opts.batchFaults ? { faults: opts.batchFaults } : {}),
      }
    : false,
  smtp: { port: opts.smtpPort },
  ...(opts.web === false ? { web: false } : opts.web ? { web: path.resolve(opts.web) } : {}),
  ...(opts.namespace ? { namespace: opts.namespace } : {}),
  ...(opts.deliveryFaults ? { deliveryFaults: opts.deliveryFaults } : {}),
  ...(logLevel ? { logLevel } : {}),
  ...(opts.eventGridRetryDelays
    ? { eventGridRetryDelaysMs: opts.eventGridRetryDelays.split(',').map(Number) }
    : {}),
  ...(opts.readyFile ? { readyFile: path.resolve(opts.readyFile) } : {}),
  ...(opts.strict ? { strict: true } : {}),
  onFailure: (what, error) => {
    process.stderr.write(`\ncloudjobs: ${what} ${error.message}: stopping\n`);
    if (stopping) return;
    stopping = true;
    // What is left may wait on what failed (storage calls retry for half a minute): it gets 3 s.
    setTimeout(() => process.exit(1), 3000).unref();
    void runtime.stop().finally(() => process.exit(1));
  },
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    process.stderr.write(`\n${signal} again: exiting now\n`);
    process.exit(130);
  }
  stopping = true;
  process.stdout.write(`\n${signal} received: stopping (press Ctrl+C again to force)\n`);
  await runtime.stop();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

try {
  await runtime.start();
} catch (error) {
  process.stderr.write(
    `\ncloudjobs: could not start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  await runtime.stop();
  process.exit(1);
}

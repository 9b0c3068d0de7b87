/**
 * A webhook receiver for trying notifications on one machine (`npm run receive`): it checks each
 * delivery's Standard Webhooks signature against the secrets it was given, prints what it was
 * told, one line per event, and answers 204 (401 when the signature does not verify, so the
 * delivery is retried and shows as failed in the deliveries list).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { verifyWebhook } from '../../shared/domain/webhooks.js';

const jobEventSchema = z.looseObject({
  type: z.string(),
  data: z.looseObject({
    jobId: z.string(),
    name: z.string(),
    previousStatus: z.string().optional(),
    status: z.string(),
    message: z.string().optional(),
    sequence: z.number(),
  }),
});

const taskEventSchema = z.looseObject({
  data: z.looseObject({
    jobId: z.string(),
    name: z.string(),
    taskId: z.string(),
    status: z.string(),
    exitCode: z.number().optional(),
    sequence: z.number(),
  }),
});

/** What a delivery says, in lines a person reads: one per job event, one per batch of task events. */
export function describeDelivery(body: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return [`a body that is not JSON (${body.length} characters)`];
  }
  const batch = z.array(taskEventSchema).safeParse(parsed);
  if (batch.success) {
    const events = batch.data.map((e) => e.data);
    const first = events[0];
    if (!first) return ['an empty batch'];
    const shown = events
      .slice(0, 5)
      .map((e) => `${e.taskId} ${e.status}${e.exitCode !== undefined ? ` (exit ${e.exitCode})` : ''}`);
    const more = events.length > shown.length ? `, and ${events.length - shown.length} more` : '';
    const numbers =
      events.length === 1 ? `#${first.sequence}` : `#${first.sequence}–#${events.at(-1)!.sequence}`;
    return [`job ${first.name} (${first.jobId}) task events ${numbers}: ${shown.join(', ')}${more}`];
  }
  const job = jobEventSchema.safeParse(parsed);
  if (job.success) {
    const { data } = job.data;
    const from = data.previousStatus ? `${data.previousStatus} → ` : '';
    return [
      `job ${data.name} (${data.jobId}) #${data.sequence}: ${from}${data.status}${data.message ? ` — ${data.message}` : ''}`,
    ];
  }
  return [`an event of a shape this receiver does not know (${body.length} characters)`];
}

/** Starts the receiver; resolves once it listens, with its address and a way to stop it. */
export async function startReceiver(options: {
  host: string;
  port: number;
  secrets: readonly string[];
  print: (line: string) => void;
}): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(request.headers['webhook-id'] ?? '');
      const content = { id, timestamp: Number(request.headers['webhook-timestamp']), body };
      const signature = String(request.headers['webhook-signature'] ?? '');
      const now = Math.floor(Date.now() / 1000);
      const verified = options.secrets.some((secret) => verifyWebhook(secret, content, signature, now));
      const time = new Date().toISOString().slice(11, 23);
      if (options.secrets.length > 0 && !verified) {
        options.print(`${time} ✗ ${id || '(no webhook-id)'}: the signature does not verify; answered 401`);
        response.writeHead(401).end();
        return;
      }
      const mark = verified ? '✓' : '·';
      for (const line of describeDelivery(body)) options.print(`${time} ${mark} ${line}`);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/hook`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('receive')
    .description('Receive cloudjobs webhooks on this machine and check their signatures.')
    .option(
      '--port <port>',
      'port to listen on',
      (value) => {
        const port = Number(value);
        if (!Number.isInteger(port) || port < 0 || port > 65_535)
          throw new InvalidArgumentError('not a port number');
        return port;
      },
      8000,
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--secret <whsec_...>',
      'a signing secret to verify with (give it again for another, as during a rotation)',
      (value: string, previous: string[]) => {
        if (!/^whsec_[A-Za-z0-9+/=]+$/.test(value)) throw new InvalidArgumentError('not a whsec_ secret');
        return [...previous, value];
      },
      [] as string[],
    )
    .parse(argv);
  const options = program.opts<{ port: number; host: string; secret: string[] }>();
  const receiver = await startReceiver({
    host: options.host,
    port: options.port,
    secrets: options.secret,
    print: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(
    `receiving webhooks at ${receiver.url}\n` +
      (options.secret.length > 0
        ? `checking signatures against ${options.secret.length} secret(s)\n`
        : `subscribe it: curl -s -X POST http://127.0.0.1:7071/api/subscriptions -H 'content-type: application/json' -d '{"url": "${receiver.url}"}'\n` +
          'no --secret given, so signatures are not checked (· marks such an event): start me again with\n' +
          '--secret <the secret the subscription answered>; deliveries that find me down meanwhile are retried\n'),
  );
  const stop = () => void receiver.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv).catch((error: unknown) => {
    process.stderr.write(`receive: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}

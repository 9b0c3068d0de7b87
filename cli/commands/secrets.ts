import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { Command } from 'commander';
import type { Io, Run } from '../context.js';
import { UsageError } from '../exit.js';
import { table } from '../format.js';

/** Your secrets, which a job's env names as {"secretRef": "<name>"}: ls, set, rm. */
export function secretsCommands(program: Command, run: Run, terminal: Io): void {
  const secrets = program
    .command('secrets')
    .description('your secrets, which a job’s env names as {"secretRef": "<name>"}: ls, set, rm');

  run(
    secrets.command('ls').description('your secrets’ names and when each was set (never their values)'),
    async (context) => {
      const items = await context.client.secrets.list();
      context.print(items, () =>
        items.length === 0
          ? 'no secrets'
          : table(
              ['NAME', 'UPDATED', 'IN A JOB'],
              items.map((secret) => [secret.name, secret.updatedAt, JSON.stringify(secret.ref)]),
            ),
      );
    },
  );

  const set = secrets
    .command('set')
    .description('set one of your secrets: typed without echo, piped in, or read from a file')
    .argument('<name>', 'lowercase letters, digits and inner hyphens, e.g. db-password')
    .option('--from-file <file>', 'the value is this file’s content, exactly')
    .addHelpText(
      'after',
      '\nExamples:\n  cloudjobs secrets set db-password\n  printenv DB_PASSWORD | cloudjobs secrets set db-password\n' +
        '  # then in a job: "env": { "DB_PASSWORD": { "secretRef": "db-password" } }',
    );
  run(set, async (context, name) => {
    const { fromFile } = set.opts<{ fromFile?: string }>();
    const value = fromFile ? await readFile(fromFile, 'utf8') : await readValue(name, terminal);
    if (value === '') throw new UsageError('the value is empty: nothing was set');
    const secret = await context.client.secrets.set(name, value);
    context.print(secret, () => `set secret ${secret.name}; a job names it as ${JSON.stringify(secret.ref)}`);
  });

  run(
    secrets
      .command('rm')
      .description('remove one of your secrets; jobs naming it whose tasks are not yet on Batch fail')
      .argument('<name>', 'the secret'),
    async (context, name) => {
      await context.client.secrets.remove(name);
      context.print({ name, removed: true }, () => `removed secret ${name}`);
    },
  );
}

/**
 * The value from standard input: asked for without echo at a terminal, else read whole, less one
 * trailing newline (what `echo` and `printenv` add).
 */
export async function readValue(name: string, terminal: Io): Promise<string> {
  const input = terminal.in as NodeJS.ReadableStream & { isTTY?: boolean };
  if (input.isTTY !== true) return (await text(input)).replace(/\r?\n$/, '');
  terminal.err.write(`value of ${name} (not shown): `);
  // Echo goes to a stream that drops it: what is typed never reaches the screen.
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const prompt = createInterface({ input, output: silent, terminal: true });
  try {
    return await new Promise<string>((resolve) => prompt.question('', resolve));
  } finally {
    prompt.close();
    terminal.err.write('\n');
  }
}

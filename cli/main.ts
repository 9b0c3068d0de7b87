import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { contextOf, type Context } from './context.js';
import { describeError, EXIT } from './exit.js';
import { graphCommand } from './commands/graph.js';
import { jobCommands } from './commands/jobs.js';
import { filesCommands } from './commands/files.js';
import { secretsCommands } from './commands/secrets.js';
import { manageCommands } from './commands/manage.js';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * The `cloudjobs` command line: every command talks to the service through the typed client, and
 * exits with a code a script can use (see exit.ts).
 */
export async function main(
  argv: string[],
  terminal = { out: process.stdout, err: process.stderr, in: process.stdin },
): Promise<number> {
  let code: number = EXIT.ok;
  let url = '';
  const program = new Command('cloudjobs')
    .description('Run batch jobs on Azure Batch through cloudjobs: submit, follow, fetch results.')
    .version(version)
    .option('--url <url>', 'the service (default: CLOUDJOBS_URL, your login, or http://127.0.0.1:7071)')
    .option('--token <token>', 'a bearer token (default: CLOUDJOBS_TOKEN or your login)')
    .option('--json', 'answer in JSON, for scripts')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => terminal.out.write(text),
      writeErr: (text) => terminal.err.write(text),
    });
  const run = (command: Command, action: (context: Context, ...args: string[]) => Promise<number | void>) => {
    command.exitOverride().action(async (...args: unknown[]) => {
      const context = await contextOf(command, terminal);
      url = context.url;
      const positional = args.slice(0, command.registeredArguments.length) as string[];
      code = (await action(context, ...positional)) ?? EXIT.ok;
    });
  };
  jobCommands(program, run, terminal);
  graphCommand(program, run);
  filesCommands(program, run);
  secretsCommands(program, run, terminal);
  manageCommands(program, run, terminal);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError && error.code === 'commander.helpDisplayed') return EXIT.ok;
    if (error instanceof CommanderError && error.code === 'commander.version') return EXIT.ok;
    const { lines, code: failed } = describeError(error, url);
    for (const line of lines) terminal.err.write(`${line}\n`);
    return failed;
  }
  return code;
}

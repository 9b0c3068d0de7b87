import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { Context, Io, Run } from '../context.js';
import { downloadWithProgress } from '../download.js';
import { UsageError } from '../exit.js';
import { bytes, table } from '../format.js';

/** What a job's tasks wrote: their logs (each attempt's) and their outputs. */
export function jobDataCommands(program: Command, run: Run, terminal: Io): void {
  logsCommand(program, run, terminal);
  outputsCommand(program, run);
}

/** Logs: a task's stdout or stderr, of any attempt, followed while it runs. */
function logsCommand(program: Command, run: Run, terminal: Io): void {
  const logs = program
    .command('logs')
    .description("a task's stdout (or stderr), of its latest attempt unless --attempt says")
    .argument('<id>')
    .argument('<taskId>')
    .option('-e, --stderr', 'stderr instead of stdout')
    .option('-f, --follow', 'keep printing as a running task writes, until it ends')
    .option('-a, --attempt <n>', 'this attempt’s log (1 is the first run); --attempts lists them')
    .option('--attempts', 'list the task’s attempts and the size of their logs')
    .addHelpText(
      'after',
      '\nExamples:\n  cloudjobs logs <id> render-7 --follow\n  cloudjobs logs <id> render-7 --attempts\n  cloudjobs logs <id> render-7 --attempt 1 --stderr',
    );
  run(logs, async (context, id, taskId) => {
    const options = logs.opts<{ stderr?: boolean; follow?: boolean; attempt?: string; attempts?: boolean }>();
    if (options.attempts) {
      const attempts = await context.client.jobs.attempts(id, taskId);
      context.print(attempts, () =>
        table(
          ['ATTEMPT', 'STDOUT', 'STDERR', ''],
          attempts.items.map((a) => [
            a.attempt,
            a.stdoutBytes === undefined ? '' : bytes(a.stdoutBytes),
            a.stderrBytes === undefined ? '' : bytes(a.stderrBytes),
            a.running ? 'running' : '',
          ]),
        ),
      );
      return;
    }
    const attempt = options.attempt === undefined ? undefined : Number(options.attempt);
    if (attempt !== undefined && !(Number.isInteger(attempt) && attempt >= 1)) {
      throw new UsageError('--attempt must be a whole number from 1');
    }
    for await (const chunk of context.client.jobs.log(id, taskId, {
      stream: options.stderr ? 'stderr' : 'stdout',
      ...(options.follow ? { follow: true } : {}),
      ...(attempt ? { attempt } : {}),
    })) {
      terminal.out.write(chunk);
    }
  });
}

/** Outputs: list a job’s files, or download them all. */
function outputsCommand(program: Command, run: Run): void {
  const outputs = program
    .command('outputs')
    .description("a job's output files; --download fetches them all")
    .argument('<id>')
    .option(
      '-d, --download <dir>',
      'download every file into this folder (a second run fetches only what is missing)',
    )
    .option('-z, --zip <file>', 'download them as one zip (- for standard output)')
    .option('--task <taskId>', 'with --zip: only this task’s outputs')
    .option('--prefix <path>', 'with --zip: only outputs whose path begins with this')
    .addHelpText(
      'after',
      '\nExamples:\n  cloudjobs outputs <id> --download ./results\n  cloudjobs outputs <id> --zip results.zip --task train',
    );
  run(outputs, async (context, id) => {
    const options = outputs.opts<{ download?: string; zip?: string; task?: string; prefix?: string }>();
    if (options.zip) {
      const written = await zipTo(context, id, options.zip, { task: options.task, prefix: options.prefix });
      if (options.zip !== '-')
        context.print(written, () => `${bytes(written.bytes)} written to ${options.zip}`);
      return;
    }
    if (options.task || options.prefix) throw new UsageError('--task and --prefix go with --zip');
    if (options.download) {
      const result = await downloadWithProgress(context, id, options.download);
      context.print(
        result,
        () =>
          `${result.downloaded.length} file(s) downloaded (${bytes(result.bytes)}), ${result.kept.length} already there, into ${options.download}`,
      );
      return;
    }
    const listing = await context.client.jobs.outputs(id);
    context.print(listing, () =>
      listing.files.length === 0
        ? `no outputs${listing.archived ? '' : ' yet'}`
        : `${table(
            ['PATH', 'SIZE', 'TYPE'],
            listing.files.map((f) => [f.path, bytes(f.size), f.contentType]),
          )}\n${listing.files.length} file(s), ${bytes(listing.bytes)}${listing.archived ? '' : ' so far (the job has not ended)'}`,
    );
  });
}

/** Streams a job's outputs zip to a file (through `<file>.part`) or standard output. */
async function zipTo(
  context: Context,
  id: string,
  file: string,
  query: { task?: string | undefined; prefix?: string | undefined },
): Promise<{ file: string; bytes: number }> {
  const response = await context.client.jobs.outputsZip(id, {
    ...(query.task ? { task: query.task } : {}),
    ...(query.prefix ? { prefix: query.prefix } : {}),
  });
  const body = Readable.fromWeb(response.body as Parameters<typeof Readable.fromWeb>[0]);
  let bytes = 0;
  body.on('data', (chunk: Buffer) => (bytes += chunk.length));
  if (file === '-') {
    await pipeline(body, context.terminal.out, { end: false });
    return { file, bytes };
  }
  // The archive is made as it is sent, so its size is not known ahead: no bar, the total after.
  await pipeline(body, createWriteStream(`${file}.part`));
  await rename(`${file}.part`, file);
  return { file, bytes };
}

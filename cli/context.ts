import type { Command } from 'commander';
import { CloudJobsClient } from '../client/index.js';
import { resolveTarget } from './profile.js';
import type { Terminal } from './follow.js';

/** What every command gets: the options shared by all, a client made from them, and where to write. */
export interface Context {
  json: boolean;
  url: string;
  terminal: Terminal;
  client: CloudJobsClient;
  /** Prints a result: as JSON with --json, else as the text given. */
  print(value: unknown, text: () => string): void;
}

/** The options every command takes. */
export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

export async function contextOf(command: Command, terminal: Terminal): Promise<Context> {
  const options = command.optsWithGlobals<GlobalOptions>();
  const target = await resolveTarget(options);
  const json = options.json === true;
  return {
    json,
    url: target.url,
    terminal,
    client: new CloudJobsClient({ url: target.url, ...(target.token ? { token: target.token } : {}) }),
    print(value, text) {
      terminal.out.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
    },
  };
}

/** Registers a command's action: the context is made from the global options when it runs. */
export type Run = (
  command: Command,
  action: (context: Context, ...args: string[]) => Promise<number | void>,
) => void;

/** Where commands read and write: the terminal, and standard input. */
export type Io = Terminal & { in: NodeJS.ReadableStream };

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readValue } from '../../../cli/commands/secrets.js';
import type { Io } from '../../../cli/context.js';

/** A terminal of the CLI's: what it writes, and what is typed at it. */
function terminal(tty: boolean) {
  const input = Object.assign(new PassThrough(), {
    isTTY: tty,
    rawModes: [] as boolean[],
    setRawMode(this: { rawModes: boolean[] }, mode: boolean) {
      this.rawModes.push(mode);
      return this;
    },
  });
  let written = '';
  const out = new PassThrough();
  const err = new PassThrough();
  err.on('data', (chunk: Buffer) => (written += chunk.toString()));
  out.on('data', (chunk: Buffer) => (written += chunk.toString()));
  return { io: { in: input, out, err } as unknown as Io, input, written: () => written };
}

describe('cloudjobs secrets set: reading the value', () => {
  it('should ask at a terminal without echoing what is typed', async () => {
    const { io, input, written } = terminal(true);
    const value = readValue('db-password', io);
    input.write('hunter2-typed\r');
    expect(await value).toBe('hunter2-typed');
    expect(written()).toContain('value of db-password (not shown): ');
    expect(written()).not.toContain('hunter2');
    // Raw mode, so the terminal itself does not echo either, and back again after.
    expect(input.rawModes).toEqual([true, false]);
  });

  it('should take piped input whole, less the newline echo adds', async () => {
    const { io, input } = terminal(false);
    const value = readValue('db-password', io);
    input.end('line one\nline two\n');
    expect(await value).toBe('line one\nline two');
  });
});

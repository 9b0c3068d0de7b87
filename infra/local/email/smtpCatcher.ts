import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { ComponentLogger } from '../host/logger.js';

/** A caught email, as the admin API lists it. */
export interface CaughtMail {
  id: string;
  receivedAt: string;
  from: string;
  to: string[];
  subject: string;
  messageId?: string;
  text: string;
}

export interface SmtpCatcherOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Where each message is kept, as `<id>.eml`, so it survives a restart and opens in a mail reader. */
  dir: string;
  logger: ComponentLogger;
}

/**
 * An SMTP server that accepts every message (no authentication, no relaying) and keeps it, so
 * email notifications can be read on one machine: under the state directory as `.eml` files and
 * through `GET /admin/local/mail`.
 */
export class SmtpCatcher {
  readonly #options: SmtpCatcherOptions;
  readonly #server: SMTPServer;
  #port = 0;
  #sequence = 0;

  constructor(options: SmtpCatcherOptions) {
    this.#options = options;
    this.#server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      size: 10 * 1024 * 1024,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', (error: Error) => callback(error));
        stream.on('end', () => {
          const to = session.envelope.rcptTo.map((r) => r.address);
          this.#keep(Buffer.concat(chunks), to).then(
            () => callback(null),
            (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
          );
        });
      },
    });
  }

  get url(): string {
    return `smtp://${this.#options.host}:${this.#port}`;
  }

  async start(): Promise<void> {
    await mkdir(this.#options.dir, { recursive: true });
    const { host, port } = this.#options;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE'
            ? new Error(`SMTP catcher port ${port} on ${host} is already in use; move it with --smtp-port`)
            : error,
        );
      this.#server.server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.server.off('error', onError);
        resolve();
      });
    });
    this.#port = (this.#server.server.address() as AddressInfo).port;
    this.#server.on('error', (error: Error) => this.#options.logger.warn(`SMTP catcher: ${error.message}`));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #keep(raw: Buffer, to: string[]): Promise<void> {
    const id = `${Date.now().toString(36)}-${(++this.#sequence).toString(36).padStart(4, '0')}`;
    await writeFile(path.join(this.#options.dir, `${id}.eml`), raw);
    this.#options.logger.info(`email to ${to.join(', ')} caught as ${id}.eml`);
  }

  /** Every caught email, newest first. */
  async list(): Promise<CaughtMail[]> {
    const files = (await readdir(this.#options.dir)).filter((f) => f.endsWith('.eml'));
    const mails = await Promise.all(
      files.map(async (file): Promise<CaughtMail> => {
        const raw = await readFile(path.join(this.#options.dir, file));
        const parsed = await simpleParser(raw);
        const addresses = (value: typeof parsed.to): string[] =>
          (Array.isArray(value) ? value : value ? [value] : []).flatMap((a) =>
            a.value.map((v) => v.address ?? ''),
          );
        return {
          id: file.slice(0, -'.eml'.length),
          receivedAt: (parsed.date ?? new Date(0)).toISOString(),
          from: parsed.from?.text ?? '',
          to: addresses(parsed.to),
          subject: parsed.subject ?? '',
          ...(parsed.messageId ? { messageId: parsed.messageId } : {}),
          text: parsed.text ?? '',
        };
      }),
    );
    return mails.sort((a, b) => b.id.localeCompare(a.id));
  }

  async clear(): Promise<void> {
    const files = (await readdir(this.#options.dir)).filter((f) => f.endsWith('.eml'));
    await Promise.all(files.map((file) => rm(path.join(this.#options.dir, file), { force: true })));
  }
}

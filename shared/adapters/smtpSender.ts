import nodemailer, { type Transporter } from 'nodemailer';
import type { EmailRequest, EmailSender, SendResult } from '../notifications/senders.js';

/**
 * Email over SMTP with nodemailer: any SMTP service, Azure Communication Services' included
 * (`smtp://<user>:<key>@smtp.azurecomm.net:587`), or the embedded runtime's local catcher.
 */
export class SmtpEmailSender implements EmailSender {
  readonly #transport: Transporter;

  constructor(
    url: string,
    private readonly from: string,
    timeoutMs: number,
  ) {
    const parsed = new URL(url);
    this.#transport = nodemailer.createTransport({
      host: parsed.hostname,
      port: Number(parsed.port || (parsed.protocol === 'smtps:' ? 465 : 587)),
      secure: parsed.protocol === 'smtps:',
      ...(parsed.username
        ? {
            auth: {
              user: decodeURIComponent(parsed.username),
              pass: decodeURIComponent(parsed.password),
            },
          }
        : {}),
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      pool: true,
      maxConnections: 4,
    });
  }

  async send(email: EmailRequest): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const info = (await this.#transport.sendMail({
        from: this.from,
        to: email.to,
        subject: email.subject,
        text: email.text,
        messageId: email.messageId,
      })) as { response?: string };
      const code = Number(/^(\d{3})/.exec(info.response ?? '')?.[1] ?? 250);
      return { outcome: 'delivered', statusCode: code, durationMs: elapsed() };
    } catch (error) {
      const responseCode = (error as { responseCode?: unknown }).responseCode;
      return {
        // A permanent refusal (5xx) will not change on a retry, but a mailbox may come back; the
        // schedule decides, as for webhooks.
        outcome: 'failed',
        ...(typeof responseCode === 'number' ? { statusCode: responseCode } : {}),
        error: (error instanceof Error ? error.message : String(error)).slice(0, 500),
        durationMs: elapsed(),
      };
    }
  }

  close(): void {
    this.#transport.close();
  }
}

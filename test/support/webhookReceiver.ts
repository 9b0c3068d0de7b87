import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../../shared/domain/webhooks.js';

/** One request a {@link WebhookReceiver} took, with the Standard Webhooks headers it came with. */
export interface Received {
  path: string;
  id: string;
  timestamp: number;
  signature: string;
  contentType: string;
  body: string;
  /** The status it was answered with. */
  answered: number;
}

/** Whether a received webhook carries a valid signature by `secret`, as a receiver checks. */
export const verifies = (secret: string, received: Received): boolean =>
  verifyWebhook(
    secret,
    { id: received.id, timestamp: received.timestamp, body: received.body },
    received.signature,
    Math.floor(Date.now() / 1000),
  );

/**
 * A webhook receiver as a subscriber runs one, on a loopback port: it records every request and
 * answers as told per path (`answers` is consumed first, then `otherwise`; 204 by default).
 */
export class WebhookReceiver {
  readonly requests: Received[] = [];
  readonly #script = new Map<string, { answers: number[]; otherwise: number }>();
  readonly #server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const script = this.#script.get(path);
      const answered = script ? (script.answers.shift() ?? script.otherwise) : 204;
      this.requests.push({
        path,
        id: String(request.headers['webhook-id']),
        timestamp: Number(request.headers['webhook-timestamp']),
        signature: String(request.headers['webhook-signature']),
        contentType: String(request.headers['content-type']),
        body: Buffer.concat(chunks).toString('utf8'),
        answered,
      });
      response.writeHead(answered).end();
    });
  });

  answer(path: string, answers: number[], otherwise = 204): void {
    this.#script.set(path, { answers: [...answers], otherwise });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
  }

  /** The requests to `path` answered 2xx, in the order they came. */
  acceptedAt(path: string): Received[] {
    return this.requests.filter((r) => r.path === path && r.answered < 300);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

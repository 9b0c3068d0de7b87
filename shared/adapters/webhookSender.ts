import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Agent, request } from 'undici';
import { addressProblem, webhookUrlProblem, type WebhookPolicy } from '../domain/webhooks.js';
import { outcomeOf } from '../domain/notifications.js';
import type { SendResult, WebhookRequest, WebhookSender } from '../notifications/senders.js';

/** Resolves a host name to every address it has (the system resolver, as `net.connect` uses). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    ),
  );

/** A name that resolves to an address webhooks (and input checks) may not reach. */
export class RefusedAddressError extends Error {
  override readonly name = 'RefusedAddressError';
}

/**
 * An undici agent that connects only to addresses the policy allows. The connection's own DNS
 * lookup resolves the name, refuses it if any answer is not allowed, and hands the socket exactly
 * the addresses it checked, so an answer that changes between check and connect cannot slip
 * through. Literal IP addresses skip the lookup: callers judge those from the URL.
 */
export function guardedAgent(
  policy: Pick<WebhookPolicy, 'allowLoopback'>,
  timeoutMs: number,
  resolve: Resolver = systemResolver,
  tls: { ca?: string | Buffer } = {},
): Agent {
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    resolve(hostname)
      .then((addresses) => {
        const refused = addresses
          .map((entry) => addressProblem(entry.address, policy))
          .find((problem) => problem !== undefined);
        if (refused) throw new RefusedAddressError(`${hostname} resolves to a refused address: ${refused}`);
        if (addresses.length === 0) throw new Error(`${hostname} has no address`);
        if (lookupOptions.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      })
      .catch((error: unknown) => callback(error as NodeJS.ErrnoException, '', 0));
  };
  return new Agent({
    connect: { lookup, timeout: timeoutMs, ...tls },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 4_000,
  });
}

/**
 * Posts webhooks with undici. The address rules are applied where the socket connects (see
 * {@link guardedAgent}). Redirects are never followed; a short timeout bounds every attempt.
 */
export class UndiciWebhookSender implements WebhookSender {
  readonly #agent: Agent;
  readonly #policy: WebhookPolicy;
  readonly #timeoutMs: number;

  constructor(options: { policy: WebhookPolicy; timeoutMs: number; resolve?: Resolver }) {
    this.#policy = options.policy;
    this.#timeoutMs = options.timeoutMs;
    this.#agent = guardedAgent(options.policy, options.timeoutMs, options.resolve);
  }

  async post(webhook: WebhookRequest): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    // Literal addresses never reach the lookup above, so they are judged here, every time.
    const problem = webhookUrlProblem(webhook.url, this.#policy);
    if (problem) return { outcome: 'failed', durationMs: 0, error: `the URL is refused: ${problem}` };
    try {
      const response = await request(webhook.url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: {
          'content-type': webhook.contentType,
          'user-agent': 'cloudjobs-webhooks/1',
          'webhook-id': webhook.id,
          'webhook-timestamp': String(webhook.timestamp),
          'webhook-signature': webhook.signature,
        },
        body: webhook.body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      // The answer's body is not needed; reading a little and dropping the rest frees the socket.
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      const outcome = outcomeOf(response.statusCode);
      return {
        outcome,
        statusCode: response.statusCode,
        durationMs: elapsed(),
        ...(response.statusCode >= 300 && response.statusCode < 400
          ? { error: 'redirects are not followed: point the subscription at the final URL' }
          : {}),
      };
    } catch (error) {
      return { outcome: 'failed', durationMs: elapsed(), error: describe(error, this.#timeoutMs) };
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

/** A failed request as one line for a person: a timeout, a refused address, or the error's own words. */
export function describe(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError' || error.name === 'AbortError' || /timeout/i.test(error.name)) {
    return `no answer within ${timeoutMs} ms`;
  }
  const cause = (error as { cause?: unknown }).cause;
  if (error instanceof RefusedAddressError) return error.message;
  if (cause instanceof RefusedAddressError) return cause.message;
  const code = (error as { code?: unknown }).code;
  return `${typeof code === 'string' ? `${code}: ` : ''}${error.message}`.slice(0, 500);
}

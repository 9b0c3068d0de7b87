import { request, type Agent } from 'undici';
import { webhookUrlProblem, type WebhookPolicy } from '../domain/webhooks.js';
import type { InputProbe } from '../jobs/inputChecks.js';
import { describe, guardedAgent, type Resolver } from './webhookSender.js';

const MAX_REDIRECTS = 5;

/**
 * Checks that an `https://` input can be fetched, as Batch will fetch it, before a job runs: a
 * HEAD request, or a one-byte ranged GET where HEAD is refused (some object stores and CDNs
 * answer HEAD 403 or 405). Every hop, redirects included, goes only where a webhook may: the same
 * address rules, applied where the socket connects, so a job cannot make the app probe its own
 * network or a metadata endpoint.
 */
export class HttpsInputProbe implements InputProbe {
  readonly #agent: Agent;
  readonly #policy: WebhookPolicy;
  readonly #timeoutMs: number;

  constructor(options: {
    policy: Pick<WebhookPolicy, 'allowLoopback'>;
    timeoutMs: number;
    resolve?: Resolver;
    /** Extra trusted certificate authorities (tests with a server of their own). */
    ca?: string | Buffer;
  }) {
    // Inputs are https only, whatever webhooks may be.
    this.#policy = { allowHttp: false, allowLoopback: options.policy.allowLoopback };
    this.#timeoutMs = options.timeoutMs;
    this.#agent = guardedAgent(
      options.policy,
      options.timeoutMs,
      options.resolve,
      options.ca ? { ca: options.ca } : {},
    );
  }

  async problem(url: string): Promise<string | undefined> {
    let at = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const refused = webhookUrlProblem(at, this.#policy);
      if (refused)
        return hop === 0 ? `is refused: ${refused}` : `redirects to ${at}, which is refused: ${refused}`;
      let status: number;
      let location: string | undefined;
      try {
        ({ status, location } = await this.#ask(at, 'HEAD'));
        if (status === 403 || status === 405 || status === 501)
          ({ status, location } = await this.#ask(at, 'GET'));
      } catch (error) {
        return `cannot be fetched: ${describe(error, this.#timeoutMs)}`;
      }
      if (status >= 200 && status < 300) return undefined;
      if (status >= 300 && status < 400 && location) {
        at = new URL(location, at).toString();
        continue;
      }
      if (status === 404 || status === 410) return `does not exist (HTTP ${status})`;
      return `cannot be fetched (HTTP ${status})`;
    }
    return `redirects more than ${MAX_REDIRECTS} times`;
  }

  async #ask(url: string, method: 'HEAD' | 'GET'): Promise<{ status: number; location?: string }> {
    const response = await request(url, {
      method,
      dispatcher: this.#agent,
      headers: { 'user-agent': 'cloudjobs-inputs/1', ...(method === 'GET' ? { range: 'bytes=0-0' } : {}) },
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    const location = response.headers.location;
    return {
      status: response.statusCode,
      ...(typeof location === 'string' ? { location } : {}),
    };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

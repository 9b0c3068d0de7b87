import { CloudJobsError, CloudJobsUnreachableError, isProblem } from './errors.js';

/** Something that gives Microsoft Entra tokens, such as `DefaultAzureCredential` from `@azure/identity`. */
export interface TokenSource {
  getToken(scopes: string | string[]): Promise<{ token: string } | null>;
}

/** How to reach cloudjobs. */
export interface ClientOptions {
  /** The service's address; `http://127.0.0.1:7071` (the local runtime) unless given. */
  url?: string;
  /** A bearer token (one of `CLOUDJOBS_API_TOKENS`), or a function giving one per request. */
  token?: string | (() => string | Promise<string>);
  /**
   * For a deployment behind App Service authentication: a Microsoft Entra credential and the
   * scope of the app's registration (`api://<client id>/.default`).
   */
  credential?: TokenSource;
  scope?: string;
  /** Attempts after the first for 429, 502, 503, 504 and lost connections; 4 unless given. */
  retries?: number;
  /** The longest wait between attempts, in ms; 30 s unless given. `Retry-After` is honoured up to it. */
  maxRetryDelayMs?: number;
  /** Replaces the global `fetch` (for tests, proxies). */
  fetch?: typeof fetch;
}

/** One request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Safe to send again after a lost connection; GET, PUT and DELETE are, POST only with a key. */
  idempotent?: boolean;
  signal?: AbortSignal;
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);

/**
 * The client's HTTP: authentication, retries with backoff that honour `Retry-After`, and every
 * error answer turned into a {@link CloudJobsError} carrying the problem document.
 */
export class Transport {
  readonly baseUrl: string;
  readonly #o: ClientOptions;
  readonly #fetch: typeof fetch;

  constructor(options: ClientOptions = {}) {
    this.#o = options;
    this.baseUrl = (options.url ?? 'http://127.0.0.1:7071').replace(/\/+$/, '');
    // Called as a method of this object, a browser's own fetch throws "Illegal invocation".
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** The URL of an API path (`/jobs/...`) with its query. */
  url(path: string, query: RequestOptions['query'] = {}): string {
    const url = new URL(`${this.baseUrl}/api${path}`);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  /** Sends a request; answers a successful response, throws {@link CloudJobsError} for any other. */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.url(path, options.query);
    const idempotent = options.idempotent ?? method !== 'POST';
    const retries = this.#o.retries ?? 4;
    for (let attempt = 0; ; attempt++) {
      // Outside the retry's reach: a credential that cannot give a token is not a lost connection.
      const authorization = await this.#authorization();
      let response: Response;
      try {
        response = await this.#fetch(url, {
          method,
          headers: {
            accept: 'application/json',
            ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...authorization,
            ...options.headers,
          },
          ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (error) {
        if (options.signal?.aborted) throw error;
        if (!idempotent || attempt >= retries)
          throw new CloudJobsUnreachableError(this.baseUrl, { cause: error });
        await this.#wait(attempt, undefined, options.signal);
        continue;
      }
      if (response.ok) return response;
      if (RETRY_STATUSES.has(response.status) && attempt < retries) {
        await response.body?.cancel();
        await this.#wait(attempt, response.headers.get('retry-after'), options.signal);
        continue;
      }
      throw await toError(response);
    }
  }

  /** Sends a request and reads its JSON answer (undefined for 204). */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async #authorization(): Promise<Record<string, string>> {
    const { token, credential, scope } = this.#o;
    if (typeof token === 'string') return { authorization: `Bearer ${token}` };
    if (typeof token === 'function') return { authorization: `Bearer ${await token()}` };
    if (credential) {
      if (!scope)
        throw new Error('a credential needs the scope of the app registration (api://<client id>/.default)');
      const got = await credential.getToken(scope);
      if (!got) throw new Error(`no token for ${scope}`);
      return { authorization: `Bearer ${got.token}` };
    }
    return {};
  }

  /** Waits before attempt `attempt + 1`: what `Retry-After` asks, else backoff with full jitter. */
  async #wait(attempt: number, retryAfter: string | null | undefined, signal?: AbortSignal): Promise<void> {
    const max = this.#o.maxRetryDelayMs ?? 30_000;
    const asked = retryAfterMs(retryAfter);
    const ms = Math.min(max, asked ?? Math.random() * Math.min(max, 500 * 2 ** attempt));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(signal.reason as Error);
        },
        { once: true },
      );
    });
  }
}

/** `Retry-After` in ms: seconds, or an HTTP date. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The error of a failed response: its problem document, or one made from what came back. */
export async function toError(response: Response): Promise<CloudJobsError> {
  const text = await response.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (isProblem(body)) return new CloudJobsError(body);
  const code =
    response.status === 401
      ? 'UNAUTHENTICATED'
      : response.status === 403
        ? 'FORBIDDEN'
        : `HTTP_${response.status}`;
  return new CloudJobsError({
    type: 'about:blank',
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    code,
    detail: text.slice(0, 500) || response.statusText || `HTTP ${response.status}`,
  });
}

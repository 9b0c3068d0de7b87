import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { ComponentLogger } from '../host/logger.js';
import { listen } from '../util/listen.js';
import { BatchState } from './batchState.js';
import { batchRoutes, type Reply, type Route } from './batchRoutes.js';
import { BatchServiceError } from './errors.js';
import { badJson } from './model.js';
import { verifySharedKey } from './sharedKey.js';
import { StorageAccess } from './storageAccess.js';

/** The development Batch account: the well-known name and key the local service accepts. */
export const LOCAL_BATCH_ACCOUNT = 'cloudjobslocal';
export const LOCAL_BATCH_KEY = Buffer.from(
  'cloudjobs local batch account key, for development only',
).toString('base64');

/** A change to the injected faults: only the keys given change (and unknown keys are refused). */
export const faultsPatchSchema = z.strictObject({
  /** Added before every request is answered. */
  latencyMs: z.number().min(0).optional(),
  /** Share of requests answered 429 Too Many Requests. */
  throttleRate: z.number().min(0).max(1).optional(),
  throttleRetryAfterSeconds: z.number().int().min(0).optional(),
  /** Chance per second that each running task is preempted (killed and requeued). */
  preemptRate: z.number().min(0).max(1).optional(),
  /** Share of task additions that are carried out but answered 503, as when a response is lost. */
  lostResponseRate: z.number().min(0).max(1).optional(),
});

export type Faults = Required<z.infer<typeof faultsPatchSchema>>;

const NO_FAULTS: Faults = {
  latencyMs: 0,
  throttleRate: 0,
  throttleRetryAfterSeconds: 1,
  preemptRate: 0,
  lostResponseRate: 0,
};

export interface LocalBatchOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  dataDir: string;
  accountName?: string;
  accountKey?: string;
  /** The storage account reached without a SAS, as a pool's managed identity would be. */
  storage: { accountName: string; accountKey: string };
  pools?: Array<{ id: string; nodes: number; slotsPerNode: number }>;
  resizeDelayMs?: number;
  activeJobQuota?: number;
  faults?: Partial<Faults>;
  logger: ComponentLogger;
}

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * A Batch-compatible service on one machine: the part of the Batch REST API that cloudjobs uses
 * (pools, jobs, tasks, task counts), at the API version `@azure/batch` sends, with Batch's JSON
 * shapes, status codes and error bodies, shared-key authentication, and tasks run as processes.
 */
export class LocalBatch {
  readonly accountName: string;
  readonly accountKey: string;
  readonly state: BatchState;
  readonly #o: LocalBatchOptions;
  readonly #routes: Route[];
  #faults: Faults;
  #server: http.Server | undefined;
  #url = '';
  #preemption: NodeJS.Timeout | undefined;
  readonly stats = { requests: 0, throttled: 0, byOperation: {} as Record<string, number> };

  constructor(options: LocalBatchOptions) {
    this.#o = options;
    this.accountName = options.accountName ?? LOCAL_BATCH_ACCOUNT;
    this.accountKey = options.accountKey ?? LOCAL_BATCH_KEY;
    this.#faults = { ...NO_FAULTS, ...faultsPatchSchema.parse(options.faults ?? {}) };
    this.state = new BatchState({
      dataDir: options.dataDir,
      storage: new StorageAccess(options.storage),
      logger: options.logger,
      initialPools: options.pools ?? [],
      resizeDelayMs: options.resizeDelayMs ?? 500,
      activeJobQuota: options.activeJobQuota ?? 100,
      accountName: this.accountName,
      accountUrl: () => this.#url,
    });
    this.#routes = batchRoutes({
      state: this.state,
      base: () => this.#url,
      lostResponseRate: () => this.#faults.lostResponseRate,
    });
  }

  /** The account URL clients use, e.g. `http://127.0.0.1:10100`. */
  get url(): string {
    return this.#url;
  }

  get faults(): Faults {
    return { ...this.#faults };
  }

  setFaults(faults: Partial<Faults>): void {
    this.#faults = { ...this.#faults, ...faultsPatchSchema.parse(faults) };
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      void this.#handle(req, res);
    });
    server.keepAliveTimeout = 65_000;
    this.#server = server;
    const port = await listen(
      server,
      this.#o.port,
      this.#o.host,
      'the Batch',
      'stop what is using it or choose another with --batch-port',
    );
    this.#url = `http://${this.#o.host}:${port}`;
    await this.state.start();
    this.#preemption = setInterval(() => {
      const rate = this.#faults.preemptRate;
      if (rate <= 0) return;
      for (const task of this.state.runningTasks()) if (Math.random() < rate) this.state.preempt(task);
    }, 1000);
    this.#preemption.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#preemption);
    const server = this.#server;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    }
    await this.state.stop();
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const reply = (
      status: number,
      body?: unknown,
      headers: Record<string, string> = {},
      stream?: NodeJS.ReadableStream,
    ) => {
      if (stream) {
        res.writeHead(status, { 'request-id': requestId, ...headers });
        stream.pipe(res);
        // A client that stops reading a file closes the connection: stop reading it too.
        res.once('close', () => (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.());
        return;
      }
      const text = body === undefined || req.method === 'HEAD' ? undefined : JSON.stringify(body);
      res.writeHead(status, {
        'request-id': requestId,
        ...(req.headers['client-request-id']
          ? { 'client-request-id': String(req.headers['client-request-id']) }
          : {}),
        ...(text !== undefined ? { 'Content-Type': 'application/json;odata=minimalmetadata' } : {}),
        ...headers,
      });
      res.end(text);
    };
    const fail = (error: BatchServiceError) =>
      reply(
        error.status,
        error.body(requestId),
        error.retryAfterSeconds !== undefined ? { 'Retry-After': String(error.retryAfterSeconds) } : {},
      );
    try {
      const rawUrl = req.url ?? '/';
      const url = new URL(rawUrl, 'http://batch.local');
      if (url.pathname.startsWith('/_local/')) {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        return this.#admin(req.method ?? 'GET', url, Buffer.concat(chunks), reply);
      }
      const raw = await readBody(req);
      this.stats.requests++;
      if (this.#faults.latencyMs > 0)
        await new Promise((resolve) => setTimeout(resolve, this.#faults.latencyMs));
      this.#admit(req, rawUrl, url, raw);
      const answer = await this.#dispatch((req.method ?? 'GET').toUpperCase(), url, rawUrl, raw, req.headers);
      return reply(answer.status, answer.body, answer.headers, answer.stream);
    } catch (error) {
      if (error instanceof BatchServiceError) return fail(error);
      this.#o.logger.error(`Batch request ${req.method} ${req.url} failed`, error);
      return fail(new BatchServiceError(500, 'InternalError', 'The server encountered an internal error.'));
    }
  }

  /** Refuses a request Batch would refuse before looking at it: unsigned, unversioned or throttled. */
  #admit(req: http.IncomingMessage, rawUrl: string, url: URL, raw: Buffer): void {
    const auth = verifySharedKey(
      req.method ?? 'GET',
      rawUrl,
      req.headers,
      raw.length,
      this.accountName,
      this.accountKey,
    );
    if (!auth.ok) {
      throw new BatchServiceError(
        403,
        'AuthenticationFailed',
        'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
        [{ key: 'AuthenticationErrorDetail', value: auth.reason }],
      );
    }
    if (!url.searchParams.get('api-version')) {
      throw new BatchServiceError(
        400,
        'MissingRequiredQueryParameter',
        'A query parameter that is mandatory for this request is not specified.',
        [{ key: 'QueryParameterName', value: 'api-version' }],
      );
    }
    if (this.#faults.throttleRate > 0 && Math.random() < this.#faults.throttleRate) {
      this.stats.throttled++;
      throw new BatchServiceError(
        429,
        'TooManyRequests',
        'The server is busy; retry the request after the interval in Retry-After.',
        [],
        this.#faults.throttleRetryAfterSeconds,
      );
    }
  }

  /** Finds the route for the path and method and answers with it. */
  async #dispatch(
    method: string,
    url: URL,
    rawUrl: string,
    raw: Buffer,
    headers: http.IncomingHttpHeaders,
  ): Promise<Reply> {
    const path = url.pathname.replace(/^\/+/, '');
    let allowed = false;
    for (const candidate of this.#routes) {
      const match = candidate.template.match(path);
      if (!match) continue;
      allowed = true;
      if (candidate.method !== method) continue;
      let body: unknown;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          throw badJson();
        }
      }
      const key = `${method} ${candidate.template.template}`;
      this.stats.byOperation[key] = (this.stats.byOperation[key] ?? 0) + 1;
      const flat = Object.fromEntries(
        Object.entries(headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(', ') : value,
        ]),
      );
      return await candidate.handle({ method, url, rawUrl, body, params: match.params, headers: flat });
    }
    throw allowed
      ? new BatchServiceError(
          405,
          'UnsupportedHttpVerb',
          'The resource does not support the specified HTTP verb.',
        )
      : new BatchServiceError(
          404,
          'InvalidUri',
          'The requested URI does not represent any resource on the server.',
        );
  }

  #admin(method: string, url: URL, body: Buffer, reply: (status: number, body?: unknown) => void): void {
    if (url.pathname === '/_local/faults' && method === 'GET') return reply(200, this.#faults);
    if (url.pathname === '/_local/faults' && method === 'PUT') {
      try {
        this.setFaults(faultsPatchSchema.parse(JSON.parse(body.toString('utf8') || '{}')));
        return reply(200, this.#faults);
      } catch (error) {
        return reply(400, { error: String(error) });
      }
    }
    if (url.pathname === '/_local/stats' && method === 'GET') return reply(200, this.stats);
    return reply(404, { error: 'not found' });
  }
}

/** Reads a request body, refusing one past Batch's 1 MiB limit as Batch does. */
async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new BatchServiceError(
        413,
        'RequestBodyTooLarge',
        'The request body is too large and exceeds the maximum permissible limit.',
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

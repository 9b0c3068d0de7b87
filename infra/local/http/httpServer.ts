import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { StaticSite } from './staticSite.js';
import type { RpcHttpCookie, RpcHttpData, RpcTypedData } from '../host/coreTypes.js';
import type { FunctionHost, RegisteredFunction } from '../host/functionHost.js';
import type { ComponentLogger } from '../host/logger.js';
import { listen } from '../util/listen.js';
import { compareRoutes, RouteTemplate } from './routeTemplate.js';

/** A request to one of the runtime's own endpoints (Durable management, admin). */
export interface InternalRequest {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface InternalResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export type InternalHandler = (request: InternalRequest) => Promise<InternalResponse | undefined>;

export interface HttpServerOptions {
  host: string;
  port: number;
  routePrefix: string;
  /** Largest request body accepted, in bytes; larger ones get 413. */
  maxBodyBytes: number;
  maxConcurrentRequests?: number;
  maxOutstandingRequests?: number;
  functionHost: FunctionHost;
  logger: ComponentLogger;
}

interface HttpRoute {
  fn: RegisteredFunction;
  template: RouteTemplate;
  methods: Set<string> | undefined;
}

class BodyTooLarge extends Error {}

/**
 * How much of a refused body is still read and dropped so the client can finish sending and see
 * the 413; past this, cutting the connection is cheaper than reading on.
 */
const REFUSED_BODY_DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * Reads a request body, refusing it as soon as it passes the limit. A refused request is left
 * paused, not destroyed: destroying it resets the connection under a client still sending.
 */
function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (!Number.isNaN(declared) && declared > limit) return Promise.reject(new BodyTooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        settle();
        request.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      settle();
      resolve(Buffer.concat(chunks));
    };
    const onClose = () => {
      settle();
      reject(new Error('The client closed the connection before sending the whole body.'));
    };
    request.on('data', onData);
    request.once('end', onEnd);
    request.once('close', onClose);
  });
}

function serializeCookie(cookie: RpcHttpCookie): string {
  const parts = [`${cookie.name ?? ''}=${cookie.value ?? ''}`];
  if (cookie.domain?.value) parts.push(`Domain=${cookie.domain.value}`);
  if (cookie.path?.value) parts.push(`Path=${cookie.path.value}`);
  const expires = cookie.expires?.value;
  if (expires && expires.seconds !== null && expires.seconds !== undefined) {
    const ms = Number(expires.seconds) * 1000 + Math.round((expires.nanos ?? 0) / 1e6);
    parts.push(`Expires=${new Date(ms).toUTCString()}`);
  }
  if (cookie.maxAge?.value !== null && cookie.maxAge?.value !== undefined)
    parts.push(`Max-Age=${cookie.maxAge.value}`);
  if (cookie.secure?.value) parts.push('Secure');
  if (cookie.httpOnly?.value) parts.push('HttpOnly');
  if (cookie.sameSite === 'lax') parts.push('SameSite=Lax');
  else if (cookie.sameSite === 'strict') parts.push('SameSite=Strict');
  else if (cookie.sameSite === 'explicitNone') parts.push('SameSite=None');
  return parts.join('; ');
}

/** Node's header object as the host passes headers: one string per name, repeats comma-joined. */
function flattenHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

function bodyBytes(data: RpcTypedData | null | undefined): Buffer {
  if (!data) return Buffer.alloc(0);
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.string !== null && data.string !== undefined) return Buffer.from(data.string);
  if (data.json !== null && data.json !== undefined) return Buffer.from(data.json);
  if (data.stream) return Buffer.from(data.stream);
  return Buffer.alloc(0);
}

/**
 * Serves HTTP triggers under the host.json route prefix, as the Functions host does, plus the
 * runtime's own endpoints (Durable management API, admin) registered with {@link addInternal}.
 */
export class HttpServer {
  readonly #options: HttpServerOptions;
  readonly #internal: Array<{ prefix: string; handler: InternalHandler }> = [];
  #site: StaticSite | undefined;
  #routes: HttpRoute[] = [];
  #ready = false;
  #streamTarget: URL | undefined;
  #server: http.Server | undefined;
  #active = 0;
  #waiting: Array<() => void> = [];
  #url = '';

  constructor(options: HttpServerOptions) {
    this.#options = options;
  }

  /** The base URL, e.g. `http://127.0.0.1:7071`, once listening. */
  get url(): string {
    return this.#url;
  }

  /**
   * Switches HTTP triggers to streaming, for an app that called `app.setup({ enableHttpStream })`:
   * as the Functions host does, each request is forwarded to the worker's own HTTP endpoint and
   * its response streamed back, instead of passing whole bodies through the invocation.
   */
  enableStreaming(workerUrl: string): void {
    const target = new URL(workerUrl);
    // The worker listens on every interface; "localhost" may resolve to an address family it lacks.
    if (target.hostname === 'localhost') target.hostname = '127.0.0.1';
    this.#streamTarget = target;
  }

  /**
   * Serves `site` for GET and HEAD outside the route prefix, as Static Web Apps serves a site
   * whose `/api` goes to a linked Function App. Not with an empty route prefix: every path is
   * the app's then.
   */
  serveSite(site: StaticSite): void {
    if (this.#options.routePrefix) this.#site = site;
  }

  get site(): StaticSite | undefined {
    return this.#site;
  }

  addInternal(prefix: string, handler: InternalHandler): void {
    this.#internal.push({ prefix, handler });
  }

  /** Compiles the routes of every HTTP-triggered function; throws on a bad template. */
  loadRoutes(): void {
    const prefix = this.#options.routePrefix;
    const routes: HttpRoute[] = [];
    for (const fn of this.#options.functionHost.byTrigger('httpTrigger')) {
      const route =
        typeof fn.trigger.route === 'string' && fn.trigger.route.length > 0 ? fn.trigger.route : fn.name;
      const full = prefix ? `${prefix}/${route.replace(/^\/+/, '')}` : route;
      let template: RouteTemplate;
      try {
        template = new RouteTemplate(full);
      } catch (error) {
        throw new Error(`function "${fn.name}": invalid route "${route}": ${(error as Error).message}`);
      }
      const methods = Array.isArray(fn.trigger.methods)
        ? new Set((fn.trigger.methods as string[]).map((m) => m.toUpperCase()))
        : undefined;
      routes.push({ fn, template, methods });
    }
    this.#routes = routes.sort((a, b) => compareRoutes(a.template, b.template));
    this.#ready = true;
  }

  /** One line per HTTP function, for the startup banner. */
  describeRoutes(): string[] {
    return this.#routes.map(
      (r) =>
        `${r.fn.name}: [${r.methods ? [...r.methods].join(',') : 'ALL'}] ${this.#url}/${r.template.template}`,
    );
  }

  async listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        this.#options.logger.error(`unhandled error serving ${req.method} ${req.url}`, error);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    server.keepAliveTimeout = 65_000;
    this.#server = server;
    const port = await listen(
      server,
      this.#options.port,
      this.#options.host,
      'the API',
      'stop what is using it or set CLOUDJOBS_PORT to another port',
    );
    this.#url = `http://${this.#options.host}:${port}`;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }

  async #acquire(): Promise<boolean> {
    const max = this.#options.maxConcurrentRequests;
    if (!max || this.#active < max) {
      this.#active++;
      return true;
    }
    const outstanding = this.#options.maxOutstandingRequests;
    if (outstanding && this.#active + this.#waiting.length >= outstanding) return false;
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
    return true;
  }

  #release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this.#ready) {
      // Listening before the app is loaded claims the port early; requests wait for the app.
      res
        .writeHead(503, { 'Retry-After': '1', 'Content-Type': 'text/plain' })
        .end('The runtime is starting.');
      return;
    }
    const url = new URL(req.url ?? '/', this.#url);
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname;

    for (const { prefix, handler } of this.#internal) {
      if (path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : prefix + '/')) {
        let body: Buffer;
        try {
          body = await readBody(req, this.#options.maxBodyBytes);
        } catch (error) {
          if (error instanceof BodyTooLarge) return this.#tooLarge(req, res);
          throw error;
        }
        const answer = await handler({ method, url, headers: req.headers, body });
        if (answer) {
          res.writeHead(answer.status, answer.headers);
          res.end(answer.body);
          return;
        }
      }
    }

    const api = `/${this.#options.routePrefix}`;
    if (
      this.#site &&
      (method === 'GET' || method === 'HEAD') &&
      path !== api &&
      !path.startsWith(`${api}/`)
    ) {
      if (await this.#site.serve(req, res)) return;
    }

    const routePath = path.replace(/^\/+/, '');
    let allowed: Set<string> | undefined;
    for (const route of this.#routes) {
      const match = route.template.match(routePath);
      if (!match) continue;
      if (route.methods && !route.methods.has(method)) {
        allowed ??= new Set();
        for (const m of route.methods) allowed.add(m);
        continue;
      }
      await this.#invoke(route, match.params, req, res, url);
      return;
    }
    if (allowed) {
      res.writeHead(405, { Allow: [...allowed].join(', ') }).end();
      return;
    }
    res.writeHead(404).end();
  }

  /**
   * Answers 413 once the rest of the body is read and dropped (up to a bound): closing the
   * connection while the client is still sending resets it, and the client sees EPIPE instead
   * of the answer.
   */
  #tooLarge(req: http.IncomingMessage, res: http.ServerResponse): void {
    const answer = (close: boolean) => {
      if (res.headersSent) return;
      res.writeHead(413, { 'Content-Type': 'text/plain', ...(close ? { Connection: 'close' } : {}) });
      res.end(`Request body is larger than the limit of ${this.#options.maxBodyBytes} bytes.`);
    };
    const declared = Number(req.headers['content-length'] ?? 0);
    if (req.complete || req.destroyed || declared > REFUSED_BODY_DRAIN_BYTES) {
      answer(true);
      return;
    }
    let dropped = 0;
    const onData = (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped <= REFUSED_BODY_DRAIN_BYTES) return;
      req.off('data', onData);
      answer(true);
    };
    req.on('data', onData);
    req.once('end', () => answer(false));
    req.once('close', () => answer(true));
    req.resume();
  }

  async #invoke(
    route: HttpRoute,
    params: Record<string, string>,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
  ): Promise<void> {
    const disabled = this.#options.functionHost.disabledReason(route.fn.name);
    if (disabled !== undefined) {
      req.resume();
      res
        .writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' })
        .end(`function "${route.fn.name}" is disabled on the embedded runtime: ${disabled}\n`);
      return;
    }
    if (this.#streamTarget) return this.#invokeStreaming(this.#streamTarget, route, params, req, res, url);
    const started = performance.now();
    let body: Buffer;
    try {
      body = await readBody(req, this.#options.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLarge) return this.#tooLarge(req, res);
      throw error;
    }
    if (!(await this.#acquire())) {
      res.writeHead(429, { 'Retry-After': '1' }).end();
      return;
    }
    try {
      const headers = flattenHeaders(req.headers);
      // The host hands the worker a query dictionary: repeated keys arrive comma-joined.
      const query: Record<string, string> = {};
      for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key).join(',');
      const rpcHttp: RpcHttpData = {
        method: (req.method ?? 'GET').toUpperCase(),
        url: url.href,
        headers,
        query,
        params,
        body: { bytes: body },
        rawBody: { bytes: body },
      };
      const fn = route.fn;
      const outcome = await this.#options.functionHost.invoke(fn, { trigger: { http: rpcHttp } });
      const status = this.#write(
        res,
        outcome.failed ? undefined : outcome.response?.returnValue?.http,
        outcome.failed,
      );
      this.#options.functionHost.logOutcome(
        fn,
        outcome,
        `${rpcHttp.method} ${url.pathname} → ${status}`,
        true,
      );
      this.#logRequest(
        fn.name,
        outcome.invocationId,
        outcome.failed,
        `${rpcHttp.method} ${url.pathname}${url.search} → ${status}`,
        started,
      );
    } finally {
      this.#release();
    }
  }

  #logRequest(fnName: string, invocationId: string, failed: boolean, line: string, started: number): void {
    this.#options.logger.parent.log(
      {
        level: failed ? 'error' : 'information',
        source: fnName,
        invocationId,
        message: `${line} (${Math.round(performance.now() - started)}ms)`,
      },
      `Function.${fnName}`,
    );
  }

  async #invokeStreaming(
    target: URL,
    route: HttpRoute,
    params: Record<string, string>,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
  ): Promise<void> {
    const started = performance.now();
    const limit = this.#options.maxBodyBytes;
    if (Number(req.headers['content-length'] ?? 0) > limit) return this.#tooLarge(req, res);
    if (!(await this.#acquire())) {
      res.writeHead(429, { 'Retry-After': '1' }).end();
      return;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const fn = route.fn;
    const invocationId = randomUUID();
    try {
      const headers = flattenHeaders(req.headers);
      // With streaming, the worker reads headers and route parameters from the trigger metadata
      // and everything else from the forwarded request.
      const triggerMetadata: Record<string, RpcTypedData> = { Headers: { json: JSON.stringify(headers) } };
      for (const [key, value] of Object.entries(params)) triggerMetadata[key] = { string: value };
      const invocation = this.#options.functionHost.invoke(fn, {
        trigger: { http: { method, url: url.href, headers, params } },
        triggerMetadata,
        invocationId,
      });

      let tooLarge = false;
      let seen = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
          seen += chunk.length;
          if (seen > limit) {
            tooLarge = true;
            callback(new BodyTooLarge());
            return;
          }
          callback(null, chunk);
        },
      });
      const forwarded = http.request(new URL(url.pathname + url.search, target), {
        method,
        headers: {
          ...req.headers,
          'x-ms-invocation-id': invocationId,
          'x-forwarded-host': req.headers.host ?? url.host,
          'x-forwarded-proto': 'http',
        },
      });
      const responded = new Promise<http.IncomingMessage>((resolve, reject) => {
        forwarded.once('response', resolve);
        forwarded.once('error', reject);
      });
      responded.catch(() => undefined);
      counter.once('error', () => forwarded.destroy());
      req.pipe(counter).pipe(forwarded);

      const first = await Promise.race([
        responded.then(
          (response) => ({ response }),
          () => ({ response: undefined }),
        ),
        invocation.then((outcome) => ({ outcome })),
      ]);
      let status: number;
      if ('response' in first && first.response) {
        status = first.response.statusCode ?? 200;
        res.writeHead(status, first.response.headers);
        first.response.pipe(res);
      } else {
        const outcome = 'outcome' in first ? first.outcome : await invocation;
        const response =
          outcome.failed || outcome.result === undefined || outcome.result === null
            ? undefined
            : await responded;
        if (response) {
          status = response.statusCode ?? 200;
          res.writeHead(status, response.headers);
          response.pipe(res);
        } else {
          forwarded.destroy();
          status = tooLarge ? 413 : outcome.failed ? 500 : 204;
          if (tooLarge) this.#tooLarge(req, res);
          else res.writeHead(status).end();
        }
      }
      const outcome = await invocation;
      // A function that fails while streaming its body leaves the response unfinished: cut it, so
      // the client sees a broken response rather than waiting for the rest.
      if (outcome.failed && res.headersSent && !res.writableEnded) res.destroy();
      this.#options.functionHost.logOutcome(fn, outcome, `${method} ${url.pathname} → ${status}`, true);
      this.#logRequest(
        fn.name,
        invocationId,
        outcome.failed,
        `${method} ${url.pathname}${url.search} → ${status} (streamed)`,
        started,
      );
    } finally {
      this.#release();
    }
  }

  #write(res: http.ServerResponse, response: RpcHttpData | null | undefined, failed: boolean): number {
    if (failed) {
      res.writeHead(500).end();
      return 500;
    }
    if (!response) {
      res.writeHead(204).end();
      return 204;
    }
    const status = Number(response.statusCode ?? 200) || 200;
    for (const [name, value] of Object.entries(response.headers ?? {})) {
      try {
        res.setHeader(name, value);
      } catch {
        // A header the app set that Node refuses (bad characters) is dropped, not fatal.
      }
    }
    const cookies = (response.cookies ?? []).map(serializeCookie);
    if (cookies.length > 0) {
      const existing = res.getHeader('set-cookie');
      const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
      res.setHeader('set-cookie', [...list, ...cookies]);
    }
    const payload = bodyBytes(response.body);
    const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
    if (!noBody && !res.hasHeader('content-length')) res.setHeader('content-length', payload.length);
    res.writeHead(status);
    res.end(noBody ? undefined : payload);
    return status;
  }
}

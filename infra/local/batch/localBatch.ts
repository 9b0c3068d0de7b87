import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { ComponentLogger } from '../host/logger.js';
import { RouteTemplate } from '../http/routeTemplate.js';
import { listen } from '../util/listen.js';
import { BatchState } from './batchState.js';
import { BatchServiceError, invalidProperty } from './errors.js';
import {
  badJson,
  jobAddSchema,
  jobDisableSchema,
  jobJson,
  jobPatchSchema,
  jobTerminateSchema,
  parseBody,
  poolAddSchema,
  poolJson,
  poolResizeSchema,
  taskAddSchema,
  taskJson,
} from './model.js';
import { parseFilter, select } from './odata.js';
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
const MAX_TASKS_PER_COLLECTION = 100;

interface Request {
  method: string;
  url: URL;
  rawUrl: string;
  body: unknown;
  params: Record<string, string>;
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };
type Handler = (request: Request) => Reply | Promise<Reply>;

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
  readonly #routes: Array<{ method: string; template: RouteTemplate; handle: Handler }>;
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
    this.#routes = this.#defineRoutes();
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

  #defineRoutes(): Array<{ method: string; template: RouteTemplate; handle: Handler }> {
    const state = this.state;
    const base = () => this.#url;
    const route = (method: string, template: string, handle: Handler) => ({
      method,
      template: new RouteTemplate(template),
      handle,
    });
    const list = <T>(request: Request, items: T[], toJson: (item: T) => Record<string, unknown>) => {
      const filter = request.url.searchParams.get('$filter');
      const predicate = filter ? parseFilter(filter) : undefined;
      const max = Math.min(
        1000,
        Math.max(1, Number(request.url.searchParams.get('maxresults') ?? 1000) || 1000),
      );
      const skip = Number(request.url.searchParams.get('$skiptoken') ?? 0) || 0;
      const matching: Record<string, unknown>[] = [];
      let index = skip;
      for (; index < items.length && matching.length < max; index++) {
        const json = toJson(items[index]!);
        if (!predicate || predicate(json))
          matching.push(select(json, request.url.searchParams.get('$select')));
      }
      const body: Record<string, unknown> = { value: matching };
      if (index < items.length) {
        const next = new URL(request.url.href);
        next.searchParams.set('$skiptoken', String(index));
        body['odata.nextLink'] =
          `${base()}${next.pathname}?${next.searchParams.toString().replace(/\+/g, '%20')}`;
      }
      return { status: 200, body };
    };
    const created = (path: string, eTag: string) => ({
      status: 201,
      headers: { Location: `${base()}${path}`, ETag: eTag, DataServiceId: `${base()}${path}` },
    });

    return [
      route('GET', 'pools', (request) =>
        list(request, [...state.pools.values()], (p) => poolJson(p, base())),
      ),
      route('POST', 'pools', async (request) => {
        const pool = await state.addPool(parseBody(poolAddSchema, request.body));
        return created(`/pools/${pool.id}`, pool.eTag);
      }),
      route('GET', 'pools/{poolId}', ({ params }) => ({
        status: 200,
        body: poolJson(state.getPool(params.poolId!), base()),
      })),
      route('HEAD', 'pools/{poolId}', ({ params }) => {
        state.getPool(params.poolId!);
        return { status: 200 };
      }),
      route('PATCH', 'pools/{poolId}', async ({ params, body }) => {
        await state.patchPool(params.poolId!, (body ?? {}) as Record<string, unknown>);
        return { status: 200 };
      }),
      route('DELETE', 'pools/{poolId}', async ({ params }) => {
        await state.deletePool(params.poolId!);
        return { status: 202 };
      }),
      route('POST', 'pools/{poolId}/resize', async ({ params, body }) => {
        const resize = parseBody(poolResizeSchema, body);
        await state.resizePool(params.poolId!, resize.targetDedicatedNodes, resize.targetLowPriorityNodes);
        return { status: 202 };
      }),
      route('POST', 'pools/{poolId}/stopresize', ({ params }) => {
        state.stopResize(params.poolId!);
        return { status: 202 };
      }),

      route('GET', 'jobs', (request) =>
        list(request, [...state.jobs.values()], (j) => jobJson(j.record, base())),
      ),
      route('POST', 'jobs', async ({ body }) => {
        const job = await state.addJob(parseBody(jobAddSchema, body));
        return created(`/jobs/${job.id}`, job.eTag);
      }),
      route('GET', 'jobs/{jobId}', ({ params }) => ({
        status: 200,
        body: jobJson(state.getJob(params.jobId!).record, base()),
      })),
      route('PATCH', 'jobs/{jobId}', async ({ params, body }) => {
        const patch = parseBody(jobPatchSchema, body);
        await state.patchJob(params.jobId!, {
          ...(patch.priority !== undefined ? { priority: patch.priority } : {}),
          ...(patch.onAllTasksComplete ? { onAllTasksComplete: patch.onAllTasksComplete } : {}),
          ...(patch.constraints?.maxWallClockTime
            ? { maxWallClockTime: patch.constraints.maxWallClockTime }
            : {}),
          ...(patch.constraints?.maxTaskRetryCount !== undefined
            ? { maxTaskRetryCount: patch.constraints.maxTaskRetryCount }
            : {}),
          ...(patch.metadata ? { metadata: patch.metadata } : {}),
        });
        return { status: 200 };
      }),
      route('DELETE', 'jobs/{jobId}', async ({ params }) => {
        await state.deleteJob(params.jobId!);
        return { status: 202 };
      }),
      route('POST', 'jobs/{jobId}/terminate', async ({ params, body }) => {
        const parsed = parseBody(jobTerminateSchema, body ?? undefined);
        await state.terminateJob(params.jobId!, parsed?.terminateReason ?? 'UserTerminate');
        return { status: 202 };
      }),
      route('POST', 'jobs/{jobId}/disable', async ({ params, body }) => {
        await state.disableJob(params.jobId!, parseBody(jobDisableSchema, body).disableTasks);
        return { status: 202 };
      }),
      route('POST', 'jobs/{jobId}/enable', async ({ params }) => {
        await state.enableJob(params.jobId!);
        return { status: 202 };
      }),
      route('GET', 'jobs/{jobId}/taskcounts', ({ params }) => {
        const counts = state.taskCounts(params.jobId!);
        return { status: 200, body: { taskCounts: counts, taskSlotCounts: counts } };
      }),

      route('GET', 'jobs/{jobId}/tasks', (request) => {
        const job = state.getJob(request.params.jobId!);
        return list(request, job.order, (t) => taskJson(job.record, t.record, base()));
      }),
      route('POST', 'jobs/{jobId}/tasks', async ({ params, body }) => {
        const [result] = await state.addTasks(params.jobId!, [parseBody(taskAddSchema, body)]);
        if (result!.error) throw result!.error;
        return created(`/jobs/${params.jobId}/tasks/${result!.spec.id}`, '');
      }),
      route('POST', 'jobs/{jobId}/addtaskcollection', async ({ params, body }) => {
        const values = (body as { value?: unknown } | undefined)?.value;
        if (!Array.isArray(values)) throw invalidProperty('value', 'the task collection must be an array');
        if (values.length > MAX_TASKS_PER_COLLECTION) {
          throw new BatchServiceError(
            400,
            'TooManyTasksInCollection',
            `A task collection holds at most ${MAX_TASKS_PER_COLLECTION} tasks.`,
          );
        }
        // A task that does not parse is refused on its own; the others are still added.
        const parsed = values.map((value, index) => {
          try {
            return { ok: true as const, spec: parseBody(taskAddSchema, value) };
          } catch (error) {
            const id = (value as { id?: unknown }).id;
            return {
              ok: false as const,
              index,
              id: typeof id === 'string' ? id : '',
              error: error as BatchServiceError,
            };
          }
        });
        const added = await state.addTasks(
          params.jobId!,
          parsed.flatMap((p) => (p.ok ? [p.spec] : [])),
        );
        const byId = new Map(added.map((a) => [a.spec.id, a]));
        const value = parsed.map((p) => {
          const outcome = p.ok ? byId.get(p.spec.id) : undefined;
          const error = p.ok ? outcome?.error : p.error;
          const taskId = p.ok ? p.spec.id : p.id;
          if (!error) {
            return {
              status: 'success',
              taskId,
              eTag: '',
              lastModified: new Date().toISOString(),
              location: `${base()}/jobs/${params.jobId}/tasks/${taskId}`,
            };
          }
          return {
            status: error.status >= 500 ? 'servererror' : 'clienterror',
            taskId,
            error: {
              code: error.code,
              message: { lang: 'en-US', value: error.message },
              values: error.values,
            },
          };
        });
        if (this.#faults.lostResponseRate > 0 && Math.random() < this.#faults.lostResponseRate) {
          throw new BatchServiceError(503, 'ServerBusy', 'The server is busy.');
        }
        return { status: 200, body: { value } };
      }),
      route('GET', 'jobs/{jobId}/tasks/{taskId}', ({ params }) => {
        const job = state.getJob(params.jobId!);
        return {
          status: 200,
          body: taskJson(job.record, state.getTask(params.jobId!, params.taskId!).record, base()),
        };
      }),
      route('DELETE', 'jobs/{jobId}/tasks/{taskId}', async ({ params }) => {
        await state.deleteTask(params.jobId!, params.taskId!);
        return { status: 200 };
      }),
      route('POST', 'jobs/{jobId}/tasks/{taskId}/terminate', async ({ params }) => {
        await state.terminateTask(params.jobId!, params.taskId!);
        return { status: 204 };
      }),
    ];
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const reply = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
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

      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY_BYTES) {
          return fail(
            new BatchServiceError(
              413,
              'RequestBodyTooLarge',
              'The request body is too large and exceeds the maximum permissible limit.',
            ),
          );
        }
        chunks.push(chunk as Buffer);
      }
      const raw = Buffer.concat(chunks);
      this.stats.requests++;
      if (this.#faults.latencyMs > 0)
        await new Promise((resolve) => setTimeout(resolve, this.#faults.latencyMs));

      const auth = verifySharedKey(
        req.method ?? 'GET',
        rawUrl,
        req.headers,
        raw.length,
        this.accountName,
        this.accountKey,
      );
      if (!auth.ok) {
        return fail(
          new BatchServiceError(
            403,
            'AuthenticationFailed',
            'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
            [{ key: 'AuthenticationErrorDetail', value: auth.reason }],
          ),
        );
      }
      if (!url.searchParams.get('api-version')) {
        return fail(
          new BatchServiceError(
            400,
            'MissingRequiredQueryParameter',
            'A query parameter that is mandatory for this request is not specified.',
            [{ key: 'QueryParameterName', value: 'api-version' }],
          ),
        );
      }
      if (this.#faults.throttleRate > 0 && Math.random() < this.#faults.throttleRate) {
        this.stats.throttled++;
        const error = new BatchServiceError(
          429,
          'TooManyRequests',
          'The server is busy; retry the request after the interval in Retry-After.',
          [],
          this.#faults.throttleRetryAfterSeconds,
        );
        return fail(error);
      }

      const path = url.pathname.replace(/^\/+/, '');
      const method = (req.method ?? 'GET').toUpperCase();
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
            return fail(badJson());
          }
        }
        const key = `${method} ${candidate.template.template}`;
        this.stats.byOperation[key] = (this.stats.byOperation[key] ?? 0) + 1;
        const answer = await candidate.handle({ method, url, rawUrl, body, params: match.params });
        return reply(answer.status, answer.body, answer.headers);
      }
      return fail(
        allowed
          ? new BatchServiceError(
              405,
              'UnsupportedHttpVerb',
              'The resource does not support the specified HTTP verb.',
            )
          : new BatchServiceError(
              404,
              'InvalidUri',
              'The requested URI does not represent any resource on the server.',
            ),
      );
    } catch (error) {
      if (error instanceof BatchServiceError) return fail(error);
      this.#o.logger.error(`Batch request ${req.method} ${req.url} failed`, error);
      return fail(new BatchServiceError(500, 'InternalError', 'The server encountered an internal error.'));
    }
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

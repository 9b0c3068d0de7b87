import { RouteTemplate } from '../http/routeTemplate.js';
import type { BatchState } from './batchState.js';
import { BatchServiceError, invalidProperty } from './errors.js';
import {
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
import { taskFile } from './taskFiles.js';

/** A request as a route handler sees it: authenticated, its body parsed. */
export interface Request {
  method: string;
  url: URL;
  rawUrl: string;
  body: unknown;
  params: Record<string, string>;
  headers: Record<string, string | undefined>;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw bytes to send instead of a JSON body (a task's file). */
  stream?: NodeJS.ReadableStream;
}

export interface Route {
  method: string;
  template: RouteTemplate;
  handle: (request: Request) => Reply | Promise<Reply>;
}

/** What the routes need from the service they belong to. */
export interface RouteContext {
  state: BatchState;
  /** The account URL, for links in answers. */
  base: () => string;
  /** Share of task collections answered 503 after they were added, as when a response is lost. */
  lostResponseRate: () => number;
}

const MAX_TASKS_PER_COLLECTION = 100;

/** The part of the Batch REST API the local service answers. */
export function batchRoutes(context: RouteContext): Route[] {
  return [...poolRoutes(context), ...jobRoutes(context), ...taskRoutes(context)];
}

function route(method: string, template: string, handle: Route['handle']): Route {
  return { method, template: new RouteTemplate(template), handle };
}

/** A page of a list, filtered and selected as OData asks, with a next link while more remain. */
function listReply<T>(
  request: Request,
  items: T[],
  toJson: (item: T) => Record<string, unknown>,
  base: string,
): Reply {
  const filter = request.url.searchParams.get('$filter');
  const predicate = filter ? parseFilter(filter) : undefined;
  const max = Math.min(1000, Math.max(1, Number(request.url.searchParams.get('maxresults') ?? 1000) || 1000));
  const skip = Number(request.url.searchParams.get('$skiptoken') ?? 0) || 0;
  const matching: Record<string, unknown>[] = [];
  let index = skip;
  for (; index < items.length && matching.length < max; index++) {
    const json = toJson(items[index]!);
    if (!predicate || predicate(json)) matching.push(select(json, request.url.searchParams.get('$select')));
  }
  const body: Record<string, unknown> = { value: matching };
  if (index < items.length) {
    const next = new URL(request.url.href);
    next.searchParams.set('$skiptoken', String(index));
    body['odata.nextLink'] = `${base}${next.pathname}?${next.searchParams.toString().replace(/\+/g, '%20')}`;
  }
  return { status: 200, body };
}

function createdReply(base: string, path: string, eTag: string): Reply {
  return {
    status: 201,
    headers: { Location: `${base}${path}`, ETag: eTag, DataServiceId: `${base}${path}` },
  };
}

function poolRoutes({ state, base }: RouteContext): Route[] {
  return [
    route('GET', 'pools', (request) =>
      listReply(request, [...state.pools.values()], (p) => poolJson(p, base()), base()),
    ),
    route('POST', 'pools', async (request) => {
      const pool = await state.addPool(parseBody(poolAddSchema, request.body));
      return createdReply(base(), `/pools/${pool.id}`, pool.eTag);
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
  ];
}

function jobRoutes({ state, base }: RouteContext): Route[] {
  return [
    route('GET', 'jobs', (request) =>
      listReply(request, [...state.jobs.values()], (j) => jobJson(j.record, base()), base()),
    ),
    route('POST', 'jobs', async ({ body }) => {
      const job = await state.addJob(parseBody(jobAddSchema, body));
      return createdReply(base(), `/jobs/${job.id}`, job.eTag);
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
  ];
}

function taskRoutes(context: RouteContext): Route[] {
  const { state, base } = context;
  return [
    route('GET', 'jobs/{jobId}/tasks', (request) => {
      const job = state.getJob(request.params.jobId!);
      return listReply(request, job.order, (t) => taskJson(job.record, t.record, base()), base());
    }),
    route('POST', 'jobs/{jobId}/tasks', async ({ params, body }) => {
      const [result] = await state.addTasks(params.jobId!, [parseBody(taskAddSchema, body)]);
      if (result!.error) throw result!.error;
      return createdReply(base(), `/jobs/${params.jobId}/tasks/${result!.spec.id}`, '');
    }),
    route('POST', 'jobs/{jobId}/addtaskcollection', (request) => addTaskCollection(context, request)),
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
    route('GET', 'jobs/{jobId}/tasks/{taskId}/files/{*filePath}', (request) => taskFile(state, request)),
    route('HEAD', 'jobs/{jobId}/tasks/{taskId}/files/{*filePath}', (request) => taskFile(state, request)),
  ];
}

/** `addtaskcollection`: up to 100 tasks, each added or refused on its own, as Batch answers. */
async function addTaskCollection(
  { state, base, lostResponseRate }: RouteContext,
  { params, body }: Request,
): Promise<Reply> {
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
  const lost = lostResponseRate();
  if (lost > 0 && Math.random() < lost) {
    throw new BatchServiceError(503, 'ServerBusy', 'The server is busy.');
  }
  return { status: 200, body: { value } };
}

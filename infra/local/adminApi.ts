import type { FunctionHost } from './host/functionHost.js';
import type { EventGridEmulator } from './eventgrid/eventGrid.js';
import type { ServiceBusEmulator } from './servicebus/serviceBus.js';
import type { TimerScheduler } from './timers/timerScheduler.js';
import type { SmtpCatcher } from './email/smtpCatcher.js';
import type { InternalHandler, InternalResponse } from './http/httpServer.js';
import { RouteTemplate } from './http/routeTemplate.js';

export const ADMIN_PREFIX = '/admin';

function json(status: number, body: unknown): InternalResponse {
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
    body: JSON.stringify(body),
  };
}

export interface AdminApiOptions {
  host: FunctionHost;
  serviceBus: ServiceBusEmulator;
  timers: TimerScheduler;
  eventGrid: EventGridEmulator;
  /** The SMTP catcher, when the runtime runs one. */
  mail?: SmtpCatcher;
  /** Orchestrator replay statistics since start. */
  durableStats: () => { episodes: number; replayMs: number; historyEventsReplayed: number };
}

interface AdminRoute {
  method: string;
  template: RouteTemplate;
  handle: (
    params: Record<string, string>,
    body: Buffer,
    url: URL,
    contentType: string | undefined,
  ) => Promise<InternalResponse>;
}

function route(method: string, template: string, handle: AdminRoute['handle']): AdminRoute {
  return { method, template: new RouteTemplate(template), handle };
}

/**
 * The Functions host's admin endpoints that make sense locally (host status, function list,
 * manually running a non-HTTP function), plus `/admin/local/...` to look into the emulated
 * Service Bus and Event Grid.
 */
export function createAdminApi(options: AdminApiOptions): InternalHandler {
  const routes = [...hostRoutes(options), ...localRoutes(options)];
  return async (request) => {
    const path = request.url.pathname.slice(ADMIN_PREFIX.length).replace(/^\/+/, '');
    for (const route of routes) {
      const match = route.template.match(path);
      if (!match || route.method !== request.method) continue;
      const contentType = request.headers['content-type'];
      return route.handle(match.params, request.body, request.url, contentType);
    }
    return json(404, { error: 'not found' });
  };
}

/** What the Functions host answers under /admin. */
function hostRoutes({ host, timers }: AdminApiOptions): AdminRoute[] {
  return [
    route('GET', 'host/status', () =>
      Promise.resolve(json(200, { state: 'Running', version: '4.x (cloudjobs embedded runtime)' })),
    ),
    route('GET', 'functions', () =>
      Promise.resolve(
        json(
          200,
          [...host.functions.values()].map((fn) => ({
            name: fn.name,
            trigger: fn.trigger,
            bindings: fn.metadata.bindings,
          })),
        ),
      ),
    ),
    route('POST', 'functions/{name}', ({ name }, body) => runFunction(host, timers, name!, body)),
  ];
}

/** Runs a non-HTTP function by hand, as the host's admin API does: `{"input": ...}` is its trigger. */
async function runFunction(
  host: FunctionHost,
  timers: TimerScheduler,
  name: string,
  body: Buffer,
): Promise<InternalResponse> {
  const fn = [...host.functions.values()].find((f) => f.name.toLowerCase() === name.toLowerCase());
  if (!fn) return json(404, { error: `no function named "${name}"` });
  if (fn.triggerType === 'timertrigger') {
    await timers.runNow(fn.name);
    return { status: 202 };
  }
  if (
    fn.triggerType === 'httptrigger' ||
    fn.triggerType === 'orchestrationtrigger' ||
    fn.triggerType === 'activitytrigger'
  ) {
    return json(400, {
      error: `"${fn.name}" cannot be run through the admin API; call it through its own trigger`,
    });
  }
  let input: unknown;
  try {
    input = body.length > 0 ? (JSON.parse(body.toString('utf8')) as { input?: unknown }).input : undefined;
  } catch {
    return json(400, { error: 'the body must be JSON: {"input": "..."}' });
  }
  const outcome = await host.invoke(fn, {
    trigger: typeof input === 'string' ? { string: input } : { json: JSON.stringify(input ?? null) },
  });
  host.logOutcome(fn, outcome, 'admin API', false);
  return { status: 202 };
}

/** `/admin/local/...`: a look into the emulators, which Azure has no equivalent of. */
function localRoutes({ serviceBus, eventGrid, durableStats, mail }: AdminApiOptions): AdminRoute[] {
  return [
    route('GET', 'local/servicebus/queues/{name}', async ({ name }) =>
      json(200, await serviceBus.counts(name!)),
    ),
    route('POST', 'local/servicebus/queues/{name}/messages', async ({ name }, body, _url, contentType) => {
      const text = contentType === undefined || /^(text\/|application\/json)/i.test(contentType);
      await serviceBus.send(name!, [
        { body: text ? body.toString('utf8') : body, ...(contentType ? { contentType } : {}) },
      ]);
      return { status: 201 };
    }),
    route('GET', 'local/servicebus/queues/{name}/deadletter', async ({ name }, _body, url) =>
      json(200, await serviceBus.peekDeadLetters(name!, Number(url.searchParams.get('count') ?? 32))),
    ),
    route('DELETE', 'local/servicebus/queues/{name}/deadletter', async ({ name }) => {
      await serviceBus.clearDeadLetters(name!);
      return { status: 204 };
    }),
    route('GET', 'local/mail', async () =>
      mail ? json(200, await mail.list()) : json(404, { error: 'this runtime runs no SMTP catcher' }),
    ),
    route('DELETE', 'local/mail', async () => {
      await mail?.clear();
      return { status: 204 };
    }),
    route('GET', 'local/durable/stats', () => Promise.resolve(json(200, durableStats()))),
    route('GET', 'local/eventgrid/subscriptions', async () => {
      const backlog = await eventGrid.backlog();
      return json(
        200,
        eventGrid.subscriptions.map((s) => ({ ...s, pendingEvents: backlog[s.name] ?? 0 })),
      );
    }),
  ];
}

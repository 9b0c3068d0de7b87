import type { InternalHandler, InternalRequest, InternalResponse } from '../http/httpServer.js';
import { RouteTemplate } from '../http/routeTemplate.js';
import type { TaskHubClient } from './client.js';
import {
  EventType,
  eventTypeName,
  TERMINAL_STATUSES,
  type HistoryEvent,
  type RuntimeStatus,
} from './history.js';
import type { InstanceRecord } from './state.js';
import { flag, json, message, parseText } from './apiResponses.js';
import { getEntity, listEntities, signalEntity } from './entityApi.js';

export const DURABLE_PREFIX = '/runtime/webhooks/durabletask';

const RUNTIME_STATUSES: ReadonlySet<string> = new Set([
  'Pending',
  'Running',
  'Completed',
  'ContinuedAsNew',
  'Failed',
  'Terminated',
  'Suspended',
]);

/** The management URLs a Durable client is given, for one base URL and task hub. */
export function managementUrls(baseUrl: string, hubName: string, id: string): Record<string, string> {
  const instance = `${baseUrl}${DURABLE_PREFIX}/instances/${id}`;
  const common = `taskHub=${hubName}&connection=Storage&code=local`;
  return {
    id,
    statusQueryGetUri: `${instance}?${common}`,
    sendEventPostUri: `${instance}/raiseEvent/{eventName}?${common}`,
    terminatePostUri: `${instance}/terminate?reason={text}&${common}`,
    rewindPostUri: `${instance}/rewind?reason={text}&${common}`,
    purgeHistoryDeleteUri: `${instance}?${common}`,
    restartPostUri: `${instance}/restart?${common}`,
    suspendPostUri: `${instance}/suspend?reason={text}&${common}`,
    resumePostUri: `${instance}/resume?reason={text}&${common}`,
  };
}

/** The payload of the `durableClient` input binding, as the Durable extension builds it. */
export function clientBindingData(baseUrl: string, hubName: string): Record<string, unknown> {
  const base = `${baseUrl}${DURABLE_PREFIX}`;
  return {
    taskHubName: hubName,
    creationUrls: {
      createNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?code=local`,
      createAndWaitOnNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=local`,
    },
    managementUrls: managementUrls(baseUrl, hubName, 'INSTANCEID'),
    baseUrl: base,
    requiredQueryStringParameters: 'code=local',
    rpcBaseUrl: `${base}/`,
  };
}

/** History in the shape the Durable HTTP API shows it: scheduling folded into its completion. */
export function formatHistory(history: HistoryEvent[], showOutput: boolean, showInput: boolean): unknown[] {
  const scheduled = new Map<number, HistoryEvent>();
  const resolved = new Set<number>();
  for (const event of history) {
    if (
      event.EventType === EventType.TaskScheduled ||
      event.EventType === EventType.TimerCreated ||
      event.EventType === EventType.SubOrchestrationInstanceCreated
    ) {
      scheduled.set(event.EventId, event);
    }
    const target = event.TaskScheduledId ?? event.TimerId;
    if (target !== undefined) resolved.add(target);
  }
  const out: unknown[] = [];
  for (const event of history) {
    const type = event.EventType;
    if (type === EventType.OrchestratorStarted || type === EventType.OrchestratorCompleted) continue;
    const base: Record<string, unknown> = {
      EventType: eventTypeName(type),
      EventId: event.EventId,
      Timestamp: event.Timestamp,
    };
    switch (type) {
      case EventType.ExecutionStarted:
        base.FunctionName = event.Name;
        if (showInput) base.Input = parseText(event.Input ?? null);
        break;
      case EventType.TaskScheduled:
      case EventType.TimerCreated:
      case EventType.SubOrchestrationInstanceCreated:
        if (resolved.has(event.EventId)) continue;
        base.FunctionName = event.Name;
        if (event.FireAt) base.FireAt = event.FireAt;
        if (event.InstanceId) base.InstanceId = event.InstanceId;
        break;
      case EventType.TaskCompleted:
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceCompleted:
      case EventType.SubOrchestrationInstanceFailed: {
        const origin = scheduled.get(event.TaskScheduledId ?? -1);
        base.FunctionName = origin?.Name;
        base.ScheduledTime = origin?.Timestamp;
        if (origin?.Attempt && origin.Attempt > 1) base.Attempt = origin.Attempt;
        if (showOutput && event.Result !== undefined) base.Result = parseText(event.Result ?? null);
        if (event.Reason) base.Reason = event.Reason;
        if (event.FailureDetails) base.FailureDetails = event.FailureDetails;
        break;
      }
      case EventType.TimerFired:
        base.TimerId = event.TimerId;
        base.FireAt = event.FireAt;
        break;
      case EventType.EventRaised:
        base.Name = event.Name;
        if (showOutput) base.Input = parseText(event.Input ?? null);
        break;
      case EventType.ExecutionCompleted:
        base.OrchestrationStatus = [
          'Running',
          'Completed',
          'ContinuedAsNew',
          'Failed',
          'Canceled',
          'Terminated',
        ][event.OrchestrationStatus ?? 1];
        if (showOutput) base.Result = parseText(event.Result ?? null);
        if (event.FailureDetails) base.FailureDetails = event.FailureDetails;
        break;
      case EventType.ExecutionTerminated:
      case EventType.ExecutionSuspended:
      case EventType.ExecutionResumed:
        base.Reason = parseText(event.Input ?? null);
        break;
      default:
        break;
    }
    out.push(base);
  }
  return out;
}

interface Route {
  method: string;
  template: RouteTemplate;
  handle: (request: InternalRequest, params: Record<string, string>) => Promise<InternalResponse>;
}

interface ManagementContext {
  client: TaskHubClient;
  options: { baseUrl: () => string; hubName: string };
}

type Handle = (
  ctx: ManagementContext,
  request: InternalRequest,
  params: Record<string, string>,
) => Promise<InternalResponse>;

/**
 * The Durable Functions HTTP management API (the `rpcBaseUrl` and webhook URLs a Durable client
 * is given), over the embedded task hub.
 */
export function createManagementApi(
  client: TaskHubClient,
  options: { baseUrl: () => string; hubName: string },
): InternalHandler {
  const ctx: ManagementContext = { client, options };
  const route = (method: string, template: string, handle: Handle): Route => ({
    method,
    template: new RouteTemplate(template),
    handle: (request, params) => handle(ctx, request, params),
  });
  const routes: Route[] = [
    route('POST', 'orchestrators/{functionName}/{instanceId?}', startOrchestration),
    route('GET', 'instances/{instanceId}', getInstance),
    route('GET', 'instances', listInstances),
    route('DELETE', 'instances/{instanceId}', purgeInstance),
    route('DELETE', 'instances', purgeInstances),
    route('POST', 'instances/{instanceId}/raiseEvent/{eventName}', raiseEvent),
    ...(['terminate', 'suspend', 'resume'] as const).map((operation) =>
      route('POST', `instances/{instanceId}/${operation}`, async ({ client }, request, params) => {
        const reason = request.url.searchParams.get('reason') ?? '';
        const result = await client[operation](params.instanceId!, reason);
        return controlAnswer(result, params.instanceId!);
      }),
    ),
    route('POST', 'instances/{instanceId}/restart', restartInstance),
    route('GET', 'entities/{entityName?}', ({ client }, r, p) => listEntities(client, r, p)),
    route('GET', 'entities/{entityName}/{entityKey}', ({ client }, r, p) => getEntity(client, r, p)),
    route('POST', 'entities/{entityName}/{entityKey?}', ({ client }, r, p) => signalEntity(client, r, p)),
    route('DELETE', 'entities/{entityName}/{entityKey?}', ({ client }, r, p) => signalEntity(client, r, p)),
    route('POST', 'instances/{instanceId}/rewind', () =>
      Promise.resolve(message(501, 'Rewind is not supported by the embedded runtime.')),
    ),
  ];

  return async (request) => {
    const path = request.url.pathname.slice(DURABLE_PREFIX.length).replace(/^\/+/, '');
    let methodMismatch = false;
    for (const route of routes) {
      const match = route.template.match(path);
      if (!match) continue;
      if (route.method !== request.method) {
        methodMismatch = true;
        continue;
      }
      return route.handle(request, match.params);
    }
    return methodMismatch ? message(405, 'Method not allowed.') : message(404, 'Not found.');
  };
}

/** An instance's status as the management API answers it. */
function statusBody(record: InstanceRecord, showInput: boolean, history?: unknown[]) {
  return {
    name: record.name,
    instanceId: record.instanceId,
    runtimeStatus: record.status,
    input: showInput ? parseText(record.input) : null,
    customStatus: parseText(record.customStatus),
    output: parseText(record.output),
    createdTime: record.createdTime,
    lastUpdatedTime: record.lastUpdatedTime,
    ...(history ? { historyEvents: history, history } : {}),
  };
}

const startOrchestration: Handle = async ({ client, options }, request, params) => {
  const body = request.body.toString('utf8');
  const result = await client.start(
    params.functionName!,
    params.instanceId,
    body.length > 0 ? body : null,
    request.url.searchParams.get('version') ?? '',
  );
  if (!result.ok) return message(result.status, result.message);
  const urls = managementUrls(options.baseUrl(), options.hubName, result.instanceId);
  const { id, ...rest } = urls;
  return json(202, { id, ...rest }, { Location: urls.statusQueryGetUri!, 'Retry-After': '10' });
};

/**
 * An instance's status, answered as the extension answers it: 202 while it has not ended
 * (Pending, Running, ContinuedAsNew, Suspended), with this same URL to poll and `Retry-After: 5`;
 * 200 once it has (Completed, Terminated, Canceled, and Failed, which is 500 instead only when
 * the poller asks with `returnInternalServerErrorOnFailure=true`).
 */
const getInstance: Handle = async ({ client }, request, params) => {
  const record = await client.get(params.instanceId!);
  if (!record) return noInstance(params.instanceId!);
  const url = request.url;
  const showHistory = flag(url, 'showHistory', false);
  const history = showHistory
    ? formatHistory(
        await client.history(record.instanceId),
        flag(url, 'showHistoryOutput', false),
        flag(url, 'showInput', true),
      )
    : undefined;
  const body = statusBody(record, flag(url, 'showInput', true), history);
  if (!TERMINAL_STATUSES.has(record.status)) {
    return json(202, body, { Location: url.toString(), 'Retry-After': '5' });
  }
  const failedAsError = record.status === 'Failed' && flag(url, 'returnInternalServerErrorOnFailure', false);
  return json(failedAsError ? 500 : 200, body);
};

const listInstances: Handle = async ({ client }, request) => {
  const url = request.url;
  const statuses = (url.searchParams.get('runtimeStatus') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const unknown = statuses.filter((s) => !RUNTIME_STATUSES.has(s));
  if (unknown.length > 0) return message(400, `Unknown runtimeStatus: ${unknown.join(', ')}`);
  const from = url.searchParams.get('createdTimeFrom');
  const to = url.searchParams.get('createdTimeTo');
  const top = Number(url.searchParams.get('top') ?? 100);
  const continuation = request.headers['x-ms-continuation-token'];
  const page = await client.list({
    ...(statuses.length > 0 ? { runtimeStatus: statuses as RuntimeStatus[] } : {}),
    ...(from ? { createdTimeFrom: new Date(from) } : {}),
    ...(to ? { createdTimeTo: new Date(to) } : {}),
    ...(url.searchParams.get('instanceIdPrefix')
      ? { instanceIdPrefix: url.searchParams.get('instanceIdPrefix')! }
      : {}),
    top: Number.isInteger(top) && top > 0 ? Math.min(top, 1000) : 100,
    ...(typeof continuation === 'string' && continuation.length > 0
      ? { continuationToken: continuation }
      : {}),
  });
  const showInput = flag(url, 'showInput', false);
  return json(
    200,
    page.records.map((r) => statusBody(r, showInput)),
    page.continuationToken ? { 'x-ms-continuation-token': page.continuationToken } : {},
  );
};

const purgeInstance: Handle = async ({ client }, _request, params) => {
  // The extension purges whatever state the instance is in (Azure Storage checks nothing).
  const result = await client.purge(params.instanceId!);
  if (result === 'not-found') return noInstance(params.instanceId!);
  return json(200, { instancesDeleted: 1 });
};

const purgeInstances: Handle = async ({ client }, request) => {
  const url = request.url;
  const statuses = (url.searchParams.get('runtimeStatus') ?? '').split(',').filter((s) => s.length > 0);
  const from = url.searchParams.get('createdTimeFrom');
  const to = url.searchParams.get('createdTimeTo');
  const count = await client.purgeWhere({
    ...(statuses.length > 0 ? { runtimeStatus: statuses as RuntimeStatus[] } : {}),
    ...(from ? { createdTimeFrom: new Date(from) } : {}),
    ...(to ? { createdTimeTo: new Date(to) } : {}),
  });
  return count === 0 ? message(404, 'No instances matched.') : json(200, { instancesDeleted: count });
};

const raiseEvent: Handle = async ({ client }, request, params) => {
  const body = request.body.toString('utf8');
  if (body.length > 0) {
    try {
      JSON.parse(body);
    } catch {
      return message(400, 'The event data is not valid JSON.');
    }
  }
  const result = await client.raiseEvent(
    params.instanceId!,
    params.eventName!,
    body.length > 0 ? body : null,
  );
  return controlAnswer(result, params.instanceId!);
};

/** Starts the instance again with the same input, under a new id unless asked to keep it. */
const restartInstance: Handle = async ({ client, options }, request, params) => {
  const record = await client.get(params.instanceId!);
  if (!record) return noInstance(params.instanceId!);
  const sameId = request.url.searchParams.get('restartWithNewInstanceId')?.toLowerCase() === 'false';
  const result = await client.start(
    record.name,
    sameId ? record.instanceId : undefined,
    record.input,
    record.version,
  );
  if (!result.ok) return message(result.status, result.message);
  const urls = managementUrls(options.baseUrl(), options.hubName, result.instanceId);
  return json(202, urls, { Location: urls.statusQueryGetUri! });
};

function noInstance(instanceId: string): InternalResponse {
  return message(404, `No instance with ID '${instanceId}' found.`);
}

function controlAnswer(result: 'accepted' | 'not-found' | 'gone', instanceId: string): InternalResponse {
  if (result === 'not-found') return noInstance(instanceId);
  if (result === 'gone') return message(410, `Instance '${instanceId}' has already finished.`);
  return { status: 202 };
}

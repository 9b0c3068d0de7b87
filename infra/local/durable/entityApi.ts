import type { InternalRequest, InternalResponse } from '../http/httpServer.js';
import { flag, json, message, parseText } from './apiResponses.js';
import type { TaskHubClient } from './client.js';

/**
 * The Durable HTTP API's entity routes, answered as the extension answers them: a read gives the
 * entity's state as it is (404 with no body when there is none), a signal is accepted with 202,
 * a list pages with `x-ms-continuation-token`.
 */

type Params = Record<string, string>;

/** `GET entities/{name}/{key}`: the state itself; `$` stands for the empty key. */
export async function getEntity(client: TaskHubClient, _request: InternalRequest, params: Params) {
  const key = params.entityKey === '$' ? '' : params.entityKey!;
  const found = await client.readEntity({ name: params.entityName!, key });
  if (!found.exists) return { status: 404 } satisfies InternalResponse;
  return json(200, parseText(found.state));
}

/** `POST` (or `DELETE`, the operation "delete") `entities/{name}/{key}?op=`: a signal. */
export async function signalEntity(
  client: TaskHubClient,
  request: InternalRequest,
  params: Params,
): Promise<InternalResponse> {
  const op = request.method === 'DELETE' ? 'delete' : (request.url.searchParams.get('op') ?? '');
  const body = request.body.toString('utf8');
  let input: string | null = null;
  if (body.length > 0) {
    const type = String(request.headers['content-type'] ?? '').toLowerCase();
    if (type.startsWith('application/json')) {
      try {
        JSON.parse(body);
      } catch (error) {
        return message(400, `Could not parse JSON content: ${(error as Error).message}`);
      }
      input = body;
    } else {
      // Any other content is the input as a string, as the extension takes it.
      input = JSON.stringify(body);
    }
  }
  const result = await client.signalEntity(
    { name: params.entityName!, key: params.entityKey ?? '' },
    op,
    input,
  );
  return result.ok ? { status: 202 } : message(400, result.message);
}

/** `GET entities[/{name}]`: the entities that exist, with their state when `fetchState=true`. */
export async function listEntities(
  client: TaskHubClient,
  request: InternalRequest,
  params: Params,
): Promise<InternalResponse> {
  const url = request.url;
  const date = (name: string): Date | undefined | 'invalid' => {
    const value = url.searchParams.get(name);
    if (value === null) return undefined;
    const parsed = new Date(value);
    return Number.isNaN(parsed.getTime()) ? 'invalid' : parsed;
  };
  const from = date('lastOperationTimeFrom');
  const to = date('lastOperationTimeTo');
  if (from === 'invalid' || to === 'invalid')
    return message(400, 'lastOperationTime must be a date and time.');
  const top = Number(url.searchParams.get('top') ?? 100);
  const continuation = request.headers['x-ms-continuation-token'];
  const page = await client.listEntities({
    ...(params.entityName ? { name: params.entityName } : {}),
    ...(from ? { lastOperationTimeFrom: from } : {}),
    ...(to ? { lastOperationTimeTo: to } : {}),
    top: Number.isInteger(top) && top > 0 ? Math.min(top, 1000) : 100,
    ...(typeof continuation === 'string' && continuation.length > 0
      ? { continuationToken: continuation }
      : {}),
  });
  const fetchState = flag(url, 'fetchState', false);
  return json(
    200,
    page.entities.map((e) => ({
      entityId: e.entityId,
      lastOperationTime: e.lastOperationTime,
      state: fetchState ? parseText(e.state) : null,
    })),
    page.continuationToken ? { 'x-ms-continuation-token': page.continuationToken } : {},
  );
}

import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { AppError, ValidationError } from '../errors.js';
import { identify, type Caller } from '../identity.js';
import { getServices, type Services } from '../composition.js';
import { problemResponse } from './problems.js';

/** What an API handler receives once the caller is known. */
export interface ApiCall {
  request: HttpRequest;
  context: InvocationContext;
  caller: Caller;
  services: Services;
}

/** The body is larger than the configured limit (413). */
export class BodyTooLargeError extends AppError {
  constructor(limit: number) {
    super('BODY_TOO_LARGE', `the request body is larger than the limit of ${limit} bytes`, 413, 'none');
  }
}

/**
 * Wraps an API handler: identifies the caller, and turns any error into a problem document (the
 * one edge helper), so handlers only say what they do.
 */
export function apiHandler(handler: (call: ApiCall) => Promise<HttpResponseInit>): HttpHandler {
  return async (request, context) => {
    try {
      const services = getServices();
      const caller = identify(services.config.identity, request.headers);
      return await handler({ request, context, caller, services });
    } catch (error) {
      return problemResponse(error, context, new URL(request.url).pathname);
    }
  };
}

/** Reads a JSON body within the size limit; malformed JSON is a 400 that says where it broke. */
export async function readJson(
  request: HttpRequest,
  maxBytes: number,
): Promise<{ value: unknown; raw: Buffer }> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) throw new BodyTooLargeError(maxBytes);
  const raw = Buffer.from(await request.arrayBuffer());
  if (raw.length > maxBytes) throw new BodyTooLargeError(maxBytes);
  const type = request.headers.get('content-type') ?? '';
  if (type && !/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `send application/json, not ${type}`, 415, 'none');
  }
  if (raw.length === 0) {
    throw new ValidationError(
      'the request has no body',
      [{ path: '(body)', message: 'a JSON body is required' }],
      'INVALID_JSON',
    );
  }
  try {
    return { value: JSON.parse(raw.toString('utf8')) as unknown, raw };
  } catch (error) {
    throw new ValidationError(
      'the request body is not valid JSON',
      [{ path: '(body)', message: (error as Error).message }],
      'INVALID_JSON',
    );
  }
}

/** A JSON answer that is never cached (it is per caller). */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'Cache-Control': 'no-store', ...headers } };
}

/** The query string as a plain object, for schema validation. */
export function queryObject(request: HttpRequest): Record<string, string> {
  return Object.fromEntries(request.query.entries());
}

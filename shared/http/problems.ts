import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { isAppError, ValidationError, type AppError } from '../errors.js';

/** An RFC 9457 problem document, with cloudjobs' stable `code` and, for bad input, each bad field. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  errors?: Array<{ path: string; message: string }>;
  invocationId?: string;
  retryAfterSeconds?: number;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** The problem type URI of a code: stable, and documented in the README's error table. */
export function problemType(code: string): string {
  return `urn:cloudjobs:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

/** The problem document of an app error: what the API answers, and what a rejected manifest gets. */
export function problemDocument(error: AppError, instance?: string): ProblemDocument {
  return {
    type: problemType(error.code),
    title: TITLES[error.status] ?? 'Error',
    status: error.status,
    detail: error.message,
    code: error.code,
    ...(instance ? { instance } : {}),
    ...(error instanceof ValidationError || 'issues' in error
      ? { errors: (error as ValidationError).issues }
      : {}),
    ...(error.retryAfterMs !== undefined ? { retryAfterSeconds: Math.ceil(error.retryAfterMs / 1000) } : {}),
  };
}

/**
 * The one place errors become HTTP responses. An {@link AppError} says its own status and code;
 * anything else is a bug or an outage whose details must not reach the caller, so it becomes a
 * generic 500 and is logged with the invocation id the caller is given to quote.
 */
export function problemResponse(
  error: unknown,
  context: InvocationContext,
  instance?: string,
): HttpResponseInit {
  const known = isAppError(error) ? error : undefined;
  if (!known) {
    context.error(`unhandled error in ${context.functionName} (invocation ${context.invocationId})`, error);
  } else if (known.status >= 500) {
    context.warn(`${known.code}: ${known.message}`);
  }
  const status = known?.status ?? 500;
  const body: ProblemDocument = known
    ? problemDocument(known, instance)
    : {
        type: problemType('INTERNAL_ERROR'),
        title: TITLES[500]!,
        status,
        detail: `an unexpected error occurred; quote invocation ${context.invocationId} when reporting it`,
        code: 'INTERNAL_ERROR',
        ...(instance ? { instance } : {}),
        invocationId: context.invocationId,
      };
  const headers: Record<string, string> = {
    'Content-Type': 'application/problem+json',
    'Cache-Control': 'no-store',
  };
  if (known?.retryAfterMs !== undefined)
    headers['Retry-After'] = String(Math.ceil(known.retryAfterMs / 1000));
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="cloudjobs"';
  return { status, headers, body: JSON.stringify(body) };
}

import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { isAppError, problemDocument, problemType, type ProblemDocument } from '../errors.js';

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
        title: 'Internal Server Error',
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

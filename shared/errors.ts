/**
 * What a caller should do about an error:
 * - `none`: retrying will not help (bad input, missing resource, a refused state change);
 * - `backoff`: a passing fault; retry the same thing after a delay;
 * - `blocked`: something outside the job must change first (a quota, a missing pool, throttling);
 *   wait and try again, for as long as it takes — the job shows as BLOCKED meanwhile.
 */
export type RetryMeaning = 'none' | 'backoff' | 'blocked';

export interface AppErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
  /** For `backoff` and `blocked`: how long to wait before trying again, if known. */
  retryAfterMs?: number;
}

/**
 * The base of the app's errors: a stable string `code`, the HTTP status it maps to, and what a
 * retry would do. Errors cross process boundaries (activity failures, queue messages), so they are
 * recognised by `name` and `code` (see {@link isAppError}), not by `instanceof` alone.
 */
export class AppError extends Error {
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly retry: RetryMeaning,
    options: AppErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Input that breaks the rules; `issues` names each bad field by its path. */
export class ValidationError extends AppError {
  constructor(
    message: string,
    readonly issues: Array<{ path: string; message: string }> = [],
    code = 'VALIDATION_FAILED',
    options: AppErrorOptions = {},
  ) {
    super(code, message, 400, 'none', options);
  }
}

export class NotFoundError extends AppError {
  constructor(message: string, code = 'NOT_FOUND', options: AppErrorOptions = {}) {
    super(code, message, 404, 'none', options);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'CONFLICT', options: AppErrorOptions = {}) {
    super(code, message, 409, 'none', options);
  }
}

/** The caller is known but may not do this. */
export class ForbiddenError extends AppError {
  constructor(message: string, code = 'FORBIDDEN', options: AppErrorOptions = {}) {
    super(code, message, 403, 'none', options);
  }
}

/** Something outside the job must clear before it can go on; the job waits (BLOCKED). */
export class BlockedError extends AppError {
  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(code, message, 503, 'blocked', options);
  }
}

/** A passing fault of a dependency; retry with backoff. */
export class TransientError extends AppError {
  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(code, message, 503, 'backoff', options);
  }
}

/** A dependency refused a request in a way retrying will not fix (bad credentials, a bug). */
export class DependencyError extends AppError {
  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(code, message, 502, 'none', options);
  }
}

/** Recognises an AppError even when it was rebuilt from another process's serialized form. */
export function isAppError(error: unknown): error is AppError {
  if (error instanceof AppError) return true;
  const candidate = error as Partial<AppError> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.code === 'string' &&
    typeof candidate.status === 'number' &&
    (candidate.retry === 'none' || candidate.retry === 'backoff' || candidate.retry === 'blocked')
  );
}

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

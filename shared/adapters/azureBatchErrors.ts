import {
  AppError,
  BlockedError,
  ConflictError,
  DependencyError,
  NotFoundError,
  TransientError,
  ValidationError,
} from '../errors.js';

/** What Batch answered, as the SDK's RestError carries it. */
interface RestErrorLike {
  statusCode?: number;
  code?: string;
  message?: string;
  body?: { code?: string; message?: { value?: string } };
  response?: { headers?: { get(name: string): string | undefined } };
}

function batchCode(error: RestErrorLike): string | undefined {
  return error.body?.code ?? error.code;
}

function batchMessage(error: RestErrorLike): string {
  const text = error.body?.message?.value ?? error.message ?? 'Azure Batch request failed';
  return text.split('\nRequestId:')[0]!;
}

function retryAfterMs(error: RestErrorLike): number | undefined {
  const header = error.response?.headers?.get('retry-after');
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'REQUEST_SEND_ERROR',
  'ENOTFOUND',
]);

/**
 * Turns a Batch failure into the app's typed errors, so callers can tell "wait and try again"
 * (BLOCKED: quota, missing pool, throttling) from "fail" (bad request, bad credentials).
 */
export function mapBatchError(error: unknown, what: string): AppError {
  if (error instanceof AppError) return error;
  const rest = error as RestErrorLike;
  const status = rest.statusCode;
  const code = batchCode(rest);
  const message = `${what}: ${batchMessage(rest)}`;
  const options = { cause: error, details: { batchCode: code, status } };
  switch (code) {
    case 'PoolNotFound':
      return new BlockedError('BATCH_POOL_NOT_FOUND', message, options);
    case 'ActiveJobAndScheduleQuotaReached':
      return new BlockedError('BATCH_QUOTA_REACHED', message, options);
    case 'PoolNotSteady':
      return new BlockedError('BATCH_POOL_RESIZING', message, options);
    case 'JobNotFound':
    case 'TaskNotFound':
      return new NotFoundError(
        message,
        code === 'JobNotFound' ? 'BATCH_JOB_NOT_FOUND' : 'BATCH_TASK_NOT_FOUND',
        options,
      );
    case 'JobExists':
    case 'PoolExists':
      return new ConflictError(
        message,
        code === 'JobExists' ? 'BATCH_JOB_EXISTS' : 'BATCH_POOL_EXISTS',
        options,
      );
    case 'JobCompleted':
    case 'JobBeingDeleted':
    case 'JobBeingTerminated':
      return new ConflictError(message, 'BATCH_JOB_COMPLETED', options);
    case 'TaskCompleted':
      return new ConflictError(message, 'BATCH_TASK_COMPLETED', options);
    case 'AuthenticationFailed':
    case 'AuthorizationFailure':
    case 'InsufficientAccountPermissions':
      return new DependencyError('BATCH_AUTH_FAILED', message, options);
    default:
      break;
  }
  const wait = retryAfterMs(rest);
  if (status === 429 || code === 'TooManyRequests' || code === 'ServerBusy') {
    return new BlockedError('BATCH_THROTTLED', message, {
      ...options,
      ...(wait !== undefined ? { retryAfterMs: wait } : {}),
    });
  }
  if (
    status === undefined ||
    status >= 500 ||
    status === 408 ||
    (code !== undefined && NETWORK_CODES.has(code))
  ) {
    return new TransientError('BATCH_UNAVAILABLE', message, {
      ...options,
      ...(wait !== undefined ? { retryAfterMs: wait } : {}),
    });
  }
  // A 404 Batch gives no code for (a file on a node, read as a stream, comes back without a body
  // to carry one): the thing is not there, as with the codes above.
  if (status === 404) return new NotFoundError(message, 'BATCH_NOT_FOUND', options);
  if (status === 413 || code === 'RequestBodyTooLarge') {
    return new ValidationError(message, [], 'BATCH_REQUEST_TOO_LARGE', options);
  }
  return new ValidationError(message, [], 'BATCH_BAD_REQUEST', options);
}

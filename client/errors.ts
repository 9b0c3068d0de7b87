import type { Problem } from './types.js';

/** The API refused a request: the problem document it answered, typed. */
export class CloudJobsError extends Error {
  override readonly name = 'CloudJobsError';
  /** The HTTP status. */
  readonly status: number;
  /** The stable error code, e.g. `VALIDATION_FAILED`, `JOB_NOT_FOUND`. */
  readonly code: string;
  /** For bad input: each field at fault and why. */
  readonly errors: ReadonlyArray<{ path: string; message: string }>;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail || problem.title);
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.code;
    this.errors = problem.errors ?? [];
  }
}

/** The service could not be reached (no answer at all), after the retries allowed. */
export class CloudJobsUnreachableError extends Error {
  override readonly name = 'CloudJobsUnreachableError';

  constructor(
    readonly url: string,
    options: { cause?: unknown } = {},
  ) {
    super(`cannot reach cloudjobs at ${url}${describeCause(options.cause)}`, options);
  }
}

function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return '';
  // fetch says only "fetch failed"; why is in its cause (ECONNREFUSED, ENOTFOUND, a TLS error).
  const inner = (cause as Error & { cause?: unknown }).cause;
  if (inner instanceof Error) {
    const code = (inner as Error & { code?: unknown }).code;
    return `: ${typeof code === 'string' ? code : inner.message}`;
  }
  return `: ${cause.message}`;
}

/** Whether a problem document came back with an error status (anything else is answered as is). */
export function isProblem(value: unknown): value is Problem {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Problem).code === 'string' &&
    typeof (value as Problem).status === 'number'
  );
}

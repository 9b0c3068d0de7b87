import { CommanderError } from 'commander';
import { CloudJobsError, CloudJobsUnreachableError, type JobStatus } from '../client/index.js';

/**
 * Exit codes a script can rely on: 0 the job finished (or the command did what it said), 1 the
 * job failed (or the service failed), 2 usage or bad input, 3 the job was cancelled, 4 the service
 * cannot be reached or will not let you in.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, cancelled: 3, unreachable: 4 } as const;

/** Bad input found before anything was sent (a file that is not a job, a bad `--param`). */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

/** The exit code of a job's final status. */
export function exitForStatus(status: JobStatus): number {
  if (status === 'FINISHED') return EXIT.ok;
  if (status === 'CANCELLED') return EXIT.cancelled;
  return EXIT.failed;
}

/** What to print for an error, and the code to exit with. */
export function describeError(error: unknown, url: string): { lines: string[]; code: number } {
  if (error instanceof CommanderError)
    return { lines: [], code: error.exitCode === 0 ? EXIT.ok : EXIT.usage };
  if (error instanceof UsageError) {
    return { lines: [`error: ${error.message}`, ...error.details.map((d) => `  ${d}`)], code: EXIT.usage };
  }
  if (error instanceof CloudJobsUnreachableError) {
    return {
      lines: [
        `error: ${error.message}`,
        '  is the service running? (npm start), or set --url / CLOUDJOBS_URL',
      ],
      code: EXIT.unreachable,
    };
  }
  if (error instanceof CloudJobsError) {
    const lines = [`error: ${error.message} (${error.code})`];
    // One line per field at fault, so a script or a person sees each.
    for (const issue of error.errors) lines.push(`  ${issue.path}: ${issue.message}`);
    if (error.status === 401 || error.status === 403) {
      lines.push(`  not authorised at ${url}: pass --token, set CLOUDJOBS_TOKEN or run cloudjobs login`);
      return { lines, code: EXIT.unreachable };
    }
    if (error.problem.invocationId) lines.push(`  invocation ${error.problem.invocationId}`);
    return { lines, code: error.status >= 400 && error.status < 500 ? EXIT.usage : EXIT.failed };
  }
  return { lines: [`error: ${error instanceof Error ? error.message : String(error)}`], code: EXIT.failed };
}

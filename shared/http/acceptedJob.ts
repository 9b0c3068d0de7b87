import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { QUEUE_OUTPUTS } from '../bindings.js';
import { parseInput } from '../domain/issues.js';
import { jobView } from '../jobs/jobsApi.js';
import { submittedEvent } from '../jobs/statusRecorder.js';
import type { JobRecord } from '../store/jobStore.js';
import type { ApiCall } from './endpoint.js';
import { json } from './endpoint.js';

const idempotencyKeySchema = z.string().min(1).max(255).optional();

/** The request's `Idempotency-Key`, checked: a retry with it answers the job the first try made. */
export function idempotencyKey(request: HttpRequest): string | undefined {
  return parseInput(
    idempotencyKeySchema,
    request.headers.get('idempotency-key') ?? undefined,
    'Idempotency-Key',
  );
}

/**
 * Starts a job just stored (by a submission or a resubmission) and answers 202 with it. A replay
 * (the same Idempotency-Key) starts it and tells subscribers of PENDING again, with the same
 * event id: the first request may have stored the job and died before either.
 */
export async function acceptedJob(
  { context, services }: Pick<ApiCall, 'context' | 'services'>,
  { job, created }: { job: JobRecord; created: boolean },
): Promise<HttpResponseInit> {
  await services.orchestrations(context).start(job.id);
  if (job.sequence === 1) context.extraOutputs.set(QUEUE_OUTPUTS.jobEvents, submittedEvent(job));
  return json(202, jobView(job), {
    Location: `/api/jobs/${job.id}`,
    ...(created ? {} : { 'Idempotent-Replayed': 'true' }),
  });
}

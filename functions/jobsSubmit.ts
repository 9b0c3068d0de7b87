import { app } from '@azure/functions';
import { QUEUE_OUTPUTS } from '../shared/bindings.js';
import * as df from 'durable-functions';
import { z } from 'zod';
import { apiHandler, json, readJson } from '../shared/http/endpoint.js';
import { jobView } from '../shared/jobs/jobsApi.js';
import { parseInput } from '../shared/domain/issues.js';
import { submittedEvent } from '../shared/jobs/statusRecorder.js';

const jobEvents = QUEUE_OUTPUTS.jobEvents;

const idempotencyKey = z.string().min(1).max(255).optional();

export const jobsSubmit = apiHandler(async ({ request, context, caller, services }) => {
  const key = parseInput(
    idempotencyKey,
    request.headers.get('idempotency-key') ?? undefined,
    'Idempotency-Key',
  );
  const body = await readJson(request, services.config.maxBodyBytes);
  const { job, created } = await services.jobs.submit(caller, body.value, body.raw, key);
  // Also on a replay: the first request may have stored the job and died before starting it.
  await services.orchestrations(context).start(job.id);
  // Subscribers hear of PENDING at once; a replay sends it again, with the same id.
  if (job.sequence === 1) context.extraOutputs.set(jobEvents, submittedEvent(job));
  return json(202, jobView(job), {
    Location: `/api/jobs/${job.id}`,
    ...(created ? {} : { 'Idempotent-Replayed': 'true' }),
  });
});

app.http('jobsSubmit', {
  route: 'jobs',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  extraOutputs: [jobEvents],
  handler: jobsSubmit,
});

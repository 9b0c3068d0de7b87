import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { z } from 'zod';
import { apiHandler, json, readJson } from '../shared/http/endpoint.js';
import { jobView, parseInput } from '../shared/jobs/jobsApi.js';

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
  handler: jobsSubmit,
});

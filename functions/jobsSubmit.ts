import { app } from '@azure/functions';
import { apiHandler, json, readJson } from '../shared/http/endpoint.js';
import { jobView } from '../shared/jobs/jobsApi.js';
import { parseInput } from '../shared/jobs/jobsApi.js';
import { z } from 'zod';

const idempotencyKey = z.string().min(1).max(255).optional();

export const jobsSubmit = apiHandler(async ({ request, caller, services }) => {
  const key = parseInput(
    idempotencyKey,
    request.headers.get('idempotency-key') ?? undefined,
    'Idempotency-Key',
  );
  const body = await readJson(request, services.config.maxBodyBytes);
  const { job, created } = await services.jobs.submit(caller, body.value, body.raw, key);
  return json(202, jobView(job), {
    Location: `/api/jobs/${job.id}`,
    ...(created ? {} : { 'Idempotent-Replayed': 'true' }),
  });
});

app.http('jobsSubmit', { route: 'jobs', methods: ['POST'], authLevel: 'anonymous', handler: jobsSubmit });

import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { QUEUE_OUTPUTS } from '../shared/bindings.js';
import { acceptedJob, idempotencyKey } from '../shared/http/acceptedJob.js';
import { apiHandler, readJson } from '../shared/http/endpoint.js';

export const jobsSubmit = apiHandler(async (call) => {
  const { request, caller, services } = call;
  const key = idempotencyKey(request);
  const body = await readJson(request, services.config.maxBodyBytes);
  return acceptedJob(call, await services.jobs.submit(caller, body.value, body.raw, key));
});

app.http('jobsSubmit', {
  route: 'jobs',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  extraOutputs: [QUEUE_OUTPUTS.jobEvents],
  handler: jobsSubmit,
});

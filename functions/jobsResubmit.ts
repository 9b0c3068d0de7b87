import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { QUEUE_OUTPUTS } from '../shared/bindings.js';
import { acceptedJob, idempotencyKey } from '../shared/http/acceptedJob.js';
import { apiHandler, readJson } from '../shared/http/endpoint.js';

export const jobsResubmit = apiHandler(async (call) => {
  const { request, caller, services } = call;
  const key = idempotencyKey(request);
  const body = await readJson(request, services.config.maxBodyBytes);
  const result = await services.controls.resubmit(caller, request.params.id!, body.value, body.raw, key);
  return acceptedJob(call, result);
});

app.http('jobsResubmit', {
  route: 'jobs/{id}/resubmit',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  extraOutputs: [QUEUE_OUTPUTS.jobEvents],
  handler: jobsResubmit,
});

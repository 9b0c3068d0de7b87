import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { idempotencyKey } from '../shared/http/acceptedJob.js';
import { apiHandler, json, readJson } from '../shared/http/endpoint.js';
import { jobView } from '../shared/jobs/jobsApi.js';

export const jobsAddTasks = apiHandler(async ({ request, context, caller, services }) => {
  const key = idempotencyKey(request);
  const body = await readJson(request, services.config.maxBodyBytes);
  const { job, added, replayed } = await services.controls.addTasks(
    caller,
    request.params.id!,
    body.value,
    key,
    services.additions,
    services.orchestrations(context).raise,
  );
  return json(202, { added, job: jobView(job) }, replayed ? { 'Idempotent-Replayed': 'true' } : {});
});

app.http('jobsAddTasks', {
  route: 'jobs/{id}/tasks',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  handler: jobsAddTasks,
});

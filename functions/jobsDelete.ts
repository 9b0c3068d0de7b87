import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const jobsDelete = apiHandler(async ({ request, caller, services, context }) => {
  const history = services.orchestrations(context);
  await services.jobs.delete(caller, request.params.id!, (job) => services.cleanup.remove(job, history));
  return { status: 204, headers: { 'Cache-Control': 'no-store' } };
});

app.http('jobsDelete', {
  route: 'jobs/{id}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  handler: jobsDelete,
});

import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const jobsDelete = apiHandler(async ({ request, caller, services }) => {
  await services.jobs.delete(caller, request.params.id!);
  return { status: 204, headers: { 'Cache-Control': 'no-store' } };
});

app.http('jobsDelete', {
  route: 'jobs/{id}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: jobsDelete,
});

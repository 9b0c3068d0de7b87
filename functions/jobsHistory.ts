import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

export const jobsHistory = apiHandler(async ({ request, caller, services }) => {
  const id = request.params.id!;
  return json(200, { jobId: id, items: await services.jobs.history(caller, id) });
});

app.http('jobsHistory', {
  route: 'jobs/{id}/history',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsHistory,
});

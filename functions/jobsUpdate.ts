import { app } from '@azure/functions';
import { apiHandler, json, readJson } from '../shared/http/endpoint.js';
import { jobView } from '../shared/jobs/jobsApi.js';

export const jobsUpdate = apiHandler(async ({ request, caller, services }) => {
  const { value } = await readJson(request, services.config.maxBodyBytes);
  const job = await services.jobs.update(caller, request.params.id!, value, services.compute);
  return json(200, jobView(job));
});

app.http('jobsUpdate', {
  route: 'jobs/{id}',
  methods: ['PATCH'],
  authLevel: 'anonymous',
  handler: jobsUpdate,
});

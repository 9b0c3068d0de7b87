import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';
import { jobView } from '../shared/jobs/jobsApi.js';

export const jobsGet = apiHandler(async ({ request, caller, services }) => {
  const { job, spec } = await services.jobs.jobWithSpec(caller, request.params.id!);
  return json(200, jobView(job, spec));
});

app.http('jobsGet', { route: 'jobs/{id}', methods: ['GET'], authLevel: 'anonymous', handler: jobsGet });

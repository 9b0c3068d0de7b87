import { app } from '@azure/functions';
import { apiHandler, json, queryObject } from '../shared/http/endpoint.js';
import { jobView, listJobsQuerySchema } from '../shared/jobs/jobsApi.js';
import { parseInput } from '../shared/domain/issues.js';

export const jobsList = apiHandler(async ({ request, caller, services }) => {
  const query = parseInput(listJobsQuerySchema, queryObject(request));
  const page = await services.jobs.list(caller, query);
  return json(200, {
    items: page.items.map((job) => jobView(job)),
    ...(page.continuation ? { continuation: page.continuation } : {}),
  });
});

app.http('jobsList', { route: 'jobs', methods: ['GET'], authLevel: 'anonymous', handler: jobsList });

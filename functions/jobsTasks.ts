import { app } from '@azure/functions';
import { apiHandler, json, queryObject } from '../shared/http/endpoint.js';
import { listTasksQuerySchema } from '../shared/jobs/jobsApi.js';
import { parseInput } from '../shared/domain/issues.js';

export const jobsTasks = apiHandler(async ({ request, caller, services }) => {
  const query = parseInput(listTasksQuerySchema, queryObject(request));
  const page = await services.jobs.tasks(caller, request.params.id!, query);
  return json(200, { items: page.items, ...(page.continuation ? { continuation: page.continuation } : {}) });
});

app.http('jobsTasks', {
  route: 'jobs/{id}/tasks',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsTasks,
});

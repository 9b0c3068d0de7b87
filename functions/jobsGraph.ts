import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

export const jobsGraph = apiHandler(async ({ request, caller, services }) =>
  json(200, await services.files.graph(caller, request.params.id!)),
);

app.http('jobsGraph', {
  route: 'jobs/{id}/graph',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsGraph,
});

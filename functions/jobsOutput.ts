import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const jobsOutput = apiHandler(({ request, caller, services }) =>
  services.jobs.unavailable(caller, request.params.id!, 'downloading an output'),
);

app.http('jobsOutput', {
  route: 'jobs/{id}/outputs/{*path}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsOutput,
});

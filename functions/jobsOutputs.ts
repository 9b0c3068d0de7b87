import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const jobsOutputs = apiHandler(({ request, caller, services }) =>
  services.jobs.unavailable(caller, request.params.id!, 'listing outputs'),
);

app.http('jobsOutputs', {
  route: 'jobs/{id}/outputs',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsOutputs,
});

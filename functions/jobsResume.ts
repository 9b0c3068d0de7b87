import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const jobsResume = apiHandler(({ request, caller, services }) =>
  services.jobs.unavailable(caller, request.params.id!, 'resuming a job'),
);

app.http('jobsResume', {
  route: 'jobs/{id}/resume',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: jobsResume,
});

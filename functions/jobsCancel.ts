import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const jobsCancel = apiHandler(({ request, caller, services }) =>
  services.jobs.unavailable(caller, request.params.id!, 'cancelling a job'),
);

app.http('jobsCancel', {
  route: 'jobs/{id}/cancel',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: jobsCancel,
});

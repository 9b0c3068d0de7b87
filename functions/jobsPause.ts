import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const jobsPause = apiHandler(({ request, caller, services }) =>
  services.jobs.unavailable(caller, request.params.id!, 'pausing a job'),
);

app.http('jobsPause', {
  route: 'jobs/{id}/pause',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: jobsPause,
});

import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const jobsTaskLogs = apiHandler(({ request, caller, services }) =>
  services.jobs.unavailable(caller, request.params.id!, 'reading task logs'),
);

app.http('jobsTaskLogs', {
  route: 'jobs/{id}/tasks/{taskId}/logs/{stream:regex(^(stdout|stderr)$)}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsTaskLogs,
});

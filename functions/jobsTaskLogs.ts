import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';
import { taskLogResponse } from '../shared/http/files.js';

export const jobsTaskLogs = apiHandler((call) => taskLogResponse(call));

app.http('jobsTaskLogs', {
  route: 'jobs/{id}/tasks/{taskId}/logs/{stream:regex(^(stdout|stderr)$)}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsTaskLogs,
});

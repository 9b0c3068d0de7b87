import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';
import { fileResponse } from '../shared/http/files.js';

export const jobsTaskLogs = apiHandler(async ({ request, caller, services }) => {
  const { id, taskId, stream } = request.params;
  const file = await services.files.log(caller, id!, taskId!, stream === 'stderr' ? 'stderr' : 'stdout');
  return fileResponse(file);
});

app.http('jobsTaskLogs', {
  route: 'jobs/{id}/tasks/{taskId}/logs/{stream:regex(^(stdout|stderr)$)}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsTaskLogs,
});

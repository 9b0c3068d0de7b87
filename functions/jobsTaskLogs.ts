import { app } from '@azure/functions';
import { apiHandler, queryObject } from '../shared/http/endpoint.js';
import { fileResponse } from '../shared/http/files.js';
import { parseInput } from '../shared/domain/issues.js';
import { taskLogQuerySchema } from '../shared/jobs/jobFiles.js';

export const jobsTaskLogs = apiHandler(async ({ request, caller, services }) => {
  const { id, taskId, stream } = request.params;
  const query = parseInput(taskLogQuerySchema, queryObject(request));
  const file = await services.files.log(caller, id!, taskId!, stream === 'stderr' ? 'stderr' : 'stdout', {
    follow: query.follow === 'true',
    ...(query.offset !== undefined ? { offset: query.offset } : {}),
  });
  // A follow with nothing left: the task has ended and the reader has its whole log.
  if (!file) return { status: 204, headers: { 'Cache-Control': 'no-store' } };
  return fileResponse(file);
});

app.http('jobsTaskLogs', {
  route: 'jobs/{id}/tasks/{taskId}/logs/{stream:regex(^(stdout|stderr)$)}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsTaskLogs,
});

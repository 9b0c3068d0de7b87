import { app } from '@azure/functions';
import { apiHandler, queryObject } from '../shared/http/endpoint.js';
import { fileResponse } from '../shared/http/files.js';
import { parseInput } from '../shared/domain/issues.js';
import { attemptParamSchema, taskLogQuerySchema } from '../shared/jobs/jobFiles.js';

export const jobsTaskAttemptLogs = apiHandler(async ({ request, caller, services }) => {
  const { id, taskId, stream } = request.params;
  const attempt = parseInput(attemptParamSchema, request.params.attempt, 'attempt');
  const query = parseInput(taskLogQuerySchema, queryObject(request));
  const file = await services.files.log(caller, id!, taskId!, stream === 'stderr' ? 'stderr' : 'stdout', {
    attempt,
    follow: query.follow === 'true',
    ...(query.offset !== undefined ? { offset: query.offset } : {}),
  });
  if (!file) return { status: 204, headers: { 'Cache-Control': 'no-store' } };
  return fileResponse(file);
});

app.http('jobsTaskAttemptLogs', {
  route: 'jobs/{id}/tasks/{taskId}/attempts/{attempt}/logs/{stream:regex(^(stdout|stderr)$)}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsTaskAttemptLogs,
});

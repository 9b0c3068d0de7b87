import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';
import { taskLogResponse } from '../shared/http/files.js';
import { parseInput } from '../shared/domain/issues.js';
import { attemptParamSchema } from '../shared/jobs/jobFiles.js';

export const jobsTaskAttemptLogs = apiHandler((call) =>
  taskLogResponse(call, parseInput(attemptParamSchema, call.request.params.attempt, 'attempt')),
);

app.http('jobsTaskAttemptLogs', {
  route: 'jobs/{id}/tasks/{taskId}/attempts/{attempt}/logs/{stream:regex(^(stdout|stderr)$)}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsTaskAttemptLogs,
});

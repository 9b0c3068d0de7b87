import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';
import { fileResponse } from '../shared/http/files.js';

export const jobsOutput = apiHandler(async ({ request, caller, services }) => {
  const path = request.params.path ?? '';
  const file = await services.files.output(caller, request.params.id!, path);
  const name = path.slice(path.lastIndexOf('/') + 1);
  return fileResponse(file, `attachment; filename*=UTF-8''${encodeURIComponent(name)}`);
});

app.http('jobsOutput', {
  route: 'jobs/{id}/outputs/{*path}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsOutput,
});

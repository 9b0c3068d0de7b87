import { app } from '@azure/functions';
import { apiHandler, queryObject } from '../shared/http/endpoint.js';
import { fileResponse } from '../shared/http/files.js';
import { outputsZipQuerySchema } from '../shared/jobs/jobFiles.js';
import { parseInput } from '../shared/domain/issues.js';

export const jobsOutputsZip = apiHandler(async ({ request, caller, services }) => {
  const query = parseInput(outputsZipQuerySchema, queryObject(request));
  const zip = await services.files.outputsZip(caller, request.params.id!, query);
  return fileResponse(zip, `attachment; filename*=UTF-8''${encodeURIComponent(zip.fileName)}`);
});

app.http('jobsOutputsZip', {
  route: 'jobs/{id}/outputs.zip',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsOutputsZip,
});

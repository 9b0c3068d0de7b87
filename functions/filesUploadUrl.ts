import { app } from '@azure/functions';
import { apiHandler, json, queryObject } from '../shared/http/endpoint.js';

export const filesUploadUrl = apiHandler(async ({ request, caller, services }) =>
  json(200, await services.userFiles.uploadUrl(caller, queryObject(request))),
);

app.http('filesUploadUrl', {
  route: 'files/upload-url',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: filesUploadUrl,
});

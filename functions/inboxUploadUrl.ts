import { app } from '@azure/functions';
import { apiHandler, json, queryObject } from '../shared/http/endpoint.js';

export const inboxUploadUrl = apiHandler(async ({ request, caller, services }) =>
  json(200, await services.inbox.uploadUrl(caller, queryObject(request))),
);

app.http('inboxUploadUrl', {
  route: 'inbox/upload-url',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: inboxUploadUrl,
});

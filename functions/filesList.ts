import { app } from '@azure/functions';
import { apiHandler, json, queryObject } from '../shared/http/endpoint.js';
import { fileLink } from '../shared/http/views.js';

export const filesList = apiHandler(async ({ request, caller, services }) => {
  const page = await services.userFiles.list(caller, queryObject(request));
  return json(200, {
    items: page.items.map((file) => ({
      ...file,
      source: `files://${file.path}`,
      links: fileLink(file.path),
    })),
    ...(page.continuation ? { continuation: page.continuation } : {}),
  });
});

app.http('filesList', { route: 'files', methods: ['GET'], authLevel: 'anonymous', handler: filesList });

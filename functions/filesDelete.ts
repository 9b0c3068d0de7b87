import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

export const filesDelete = apiHandler(async ({ request, caller, services }) =>
  json(200, await services.userFiles.remove(caller, request.params.path ?? '')),
);

app.http('filesDelete', {
  route: 'files/{*path}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: filesDelete,
});

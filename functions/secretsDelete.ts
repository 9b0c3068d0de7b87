import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const secretsDelete = apiHandler(async ({ request, caller, services }) => {
  await services.secrets.remove(caller, request.params);
  return { status: 204 };
});

app.http('secretsDelete', {
  route: 'secrets/{name}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: secretsDelete,
});

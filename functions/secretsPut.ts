import { app } from '@azure/functions';
import { apiHandler, json, readJson } from '../shared/http/endpoint.js';
import { secretView } from '../shared/http/views.js';

export const secretsPut = apiHandler(async ({ request, caller, services }) => {
  const body = await readJson(request, services.config.maxBodyBytes);
  const secret = await services.secrets.put(caller, request.params, body.value);
  return json(200, secretView(secret));
});

app.http('secretsPut', {
  route: 'secrets/{name}',
  methods: ['PUT'],
  authLevel: 'anonymous',
  handler: secretsPut,
});

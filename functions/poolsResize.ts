import { app } from '@azure/functions';
import { apiHandler, json, readJson } from '../shared/http/endpoint.js';

export const poolsResize = apiHandler(async ({ request, caller, services }) => {
  const body = await readJson(request, services.config.maxBodyBytes);
  await services.pools.resize(caller, request.params.id!, body.value);
  return json(202, { id: request.params.id, resizing: true });
});

app.http('poolsResize', {
  route: 'pools/{id}',
  methods: ['PATCH'],
  authLevel: 'anonymous',
  handler: poolsResize,
});

import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const poolsDelete = apiHandler(async ({ request, caller, services }) => {
  await services.pools.delete(caller, request.params.id!);
  return { status: 202, headers: { 'Cache-Control': 'no-store' } };
});

app.http('poolsDelete', {
  route: 'pools/{id}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: poolsDelete,
});

import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const subscriptionsDelete = apiHandler(async ({ request, caller, services }) => {
  await services.subscriptions.delete(caller, request.params.id!);
  return { status: 204, headers: { 'Cache-Control': 'no-store' } };
});

app.http('subscriptionsDelete', {
  route: 'subscriptions/{id}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: subscriptionsDelete,
});

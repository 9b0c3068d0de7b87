import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

/** A new signing secret for a webhook subscription, shown this once; the old one signs for a day more. */
export const subscriptionsRotateSecret = apiHandler(async ({ request, caller, services }) => {
  const rotated = await services.subscriptions.rotateSecret(caller, request.params.id!);
  return json(201, rotated);
});

app.http('subscriptionsRotateSecret', {
  route: 'subscriptions/{id}/secret',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: subscriptionsRotateSecret,
});

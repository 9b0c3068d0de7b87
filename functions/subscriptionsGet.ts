import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';
import { subscriptionView } from '../shared/notifications/subscriptionsApi.js';

export const subscriptionsGet = apiHandler(async ({ request, caller, services }) =>
  json(200, subscriptionView(await services.subscriptions.get(caller, request.params.id!))),
);

app.http('subscriptionsGet', {
  route: 'subscriptions/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: subscriptionsGet,
});

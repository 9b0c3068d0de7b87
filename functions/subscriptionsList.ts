import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';
import { subscriptionView } from '../shared/notifications/subscriptionsApi.js';

export const subscriptionsList = apiHandler(async ({ caller, services }) =>
  json(200, { items: (await services.subscriptions.list(caller)).map(subscriptionView) }),
);

app.http('subscriptionsList', {
  route: 'subscriptions',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: subscriptionsList,
});

import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';

export const subscriptionsDeliveries = apiHandler(({ request, caller, services }) =>
  services.subscriptions.deliveries(caller, request.params.id!),
);

app.http('subscriptionsDeliveries', {
  route: 'subscriptions/{id}/deliveries',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: subscriptionsDeliveries,
});

import { app } from '@azure/functions';
import { apiHandler, json, queryObject } from '../shared/http/endpoint.js';
import { deliveryView } from '../shared/notifications/subscriptionsApi.js';

export const subscriptionsDeliveries = apiHandler(async ({ request, caller, services }) => {
  const page = await services.subscriptions.deliveries(caller, request.params.id!, queryObject(request));
  return json(200, {
    items: page.items.map(deliveryView),
    ...(page.continuation ? { continuation: page.continuation } : {}),
  });
});

app.http('subscriptionsDeliveries', {
  route: 'subscriptions/{id}/deliveries',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: subscriptionsDeliveries,
});

import { app } from '@azure/functions';
import { apiHandler, json, readJson } from '../shared/http/endpoint.js';
import { subscriptionView } from '../shared/notifications/subscriptionsApi.js';

/** Turns a subscription on or off: `{"enabled": true}` after its endpoint answered 410 and is back. */
export const subscriptionsUpdate = apiHandler(async ({ request, caller, services }) => {
  const body = await readJson(request, services.config.maxBodyBytes);
  return json(
    200,
    subscriptionView(await services.subscriptions.update(caller, request.params.id!, body.value)),
  );
});

app.http('subscriptionsUpdate', {
  route: 'subscriptions/{id}',
  methods: ['PATCH'],
  authLevel: 'anonymous',
  handler: subscriptionsUpdate,
});

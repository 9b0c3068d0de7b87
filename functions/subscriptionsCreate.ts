import { app } from '@azure/functions';
import { apiHandler, json, readJson } from '../shared/http/endpoint.js';
import { subscriptionView } from '../shared/notifications/subscriptionsApi.js';

export const subscriptionsCreate = apiHandler(async ({ request, caller, services }) => {
  const body = await readJson(request, services.config.maxBodyBytes);
  const { subscription, secret } = await services.subscriptions.create(caller, body.value);
  return json(
    201,
    { ...subscriptionView(subscription), secret },
    { Location: `/api/subscriptions/${subscription.id}` },
  );
});

app.http('subscriptionsCreate', {
  route: 'subscriptions',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: subscriptionsCreate,
});

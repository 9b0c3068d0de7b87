import { app } from '@azure/functions';
import { QUEUE_OUTPUTS } from '../shared/bindings.js';
import { apiHandler, json } from '../shared/http/endpoint.js';
import { deliveryView } from '../shared/notifications/subscriptionsApi.js';

const deliveries = QUEUE_OUTPUTS.deliveries;

/** One attempt now at a dead-lettered (or waiting) delivery; the answer shows how it went. */
export const subscriptionsRedeliver = apiHandler(async ({ request, caller, context, services }) => {
  const { delivery, kick } = await services.notifier.redeliver(
    caller.owner,
    request.params.id!,
    request.params.deliveryId!,
  );
  if (kick) context.extraOutputs.set(deliveries, kick);
  return json(200, deliveryView(delivery));
});

app.http('subscriptionsRedeliver', {
  route: 'subscriptions/{id}/deliveries/{deliveryId}/retry',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraOutputs: [deliveries],
  handler: subscriptionsRedeliver,
});

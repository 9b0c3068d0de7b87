import { app } from '@azure/functions';
import { apiHandler, json, queryObject } from '../shared/http/endpoint.js';
import { parseInput } from '../shared/domain/issues.js';
import { deliveryView, redeliverDeadLettersQuerySchema } from '../shared/notifications/subscriptionsApi.js';

/** Dead-lettered deliveries tried again in order, until one fails again; the answer says how far it got. */
export const subscriptionsRedeliverDeadLetters = apiHandler(async ({ request, caller, services }) => {
  const query = parseInput(redeliverDeadLettersQuerySchema, queryObject(request));
  const result = await services.notifier.redeliverDeadLetters(caller.owner, request.params.id!, query);
  return json(200, {
    delivered: result.delivered.map(deliveryView),
    ...(result.failed ? { failed: deliveryView(result.failed) } : {}),
    more: result.more,
  });
});

app.http('subscriptionsRedeliverDeadLetters', {
  route: 'subscriptions/{id}/deliveries/retry',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: subscriptionsRedeliverDeadLetters,
});

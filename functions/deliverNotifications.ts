import { app, type InvocationContext } from '@azure/functions';
import { queueTrigger } from '../shared/bindings.js';
import { getServices } from '../shared/composition.js';
import { deliveryKickSchema } from '../shared/notifications/notifier.js';

/** Delivers, in order, what one subscription's stream of one job's events has ready. */
export async function deliverNotifications(message: unknown, context: InvocationContext): Promise<void> {
  const parsed = deliveryKickSchema.safeParse(message);
  if (!parsed.success) {
    context.warn(`dropped a deliveries message that names no stream: ${parsed.error.message}`);
    return;
  }
  await getServices().notifier.drain(parsed.data);
}

app.serviceBusQueue('deliverNotifications', {
  ...queueTrigger('deliveries'),
  handler: deliverNotifications,
});

import { app, type InvocationContext, type Timer } from '@azure/functions';
import { QUEUE_OUTPUTS } from '../shared/bindings.js';
import { getServices } from '../shared/composition.js';

const deliveries = QUEUE_OUTPUTS.deliveries;

/** Every 5 seconds, wakes the delivery streams whose retry is due or whose wake-up seems lost. */
export async function deliveryRetries(_timer: Timer, context: InvocationContext): Promise<void> {
  const kicks = await getServices().notifier.sweep();
  if (kicks.length > 0) context.extraOutputs.set(deliveries, kicks);
}

app.timer('deliveryRetries', {
  schedule: '*/5 * * * * *',
  extraOutputs: [deliveries],
  handler: deliveryRetries,
});

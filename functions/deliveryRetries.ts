import { app, output, type InvocationContext, type Timer } from '@azure/functions';
import { SERVICE_BUS_CONNECTION } from '../shared/config.js';
import { getServices } from '../shared/composition.js';

const deliveries = output.serviceBusQueue({ queueName: 'deliveries', connection: SERVICE_BUS_CONNECTION });

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

import { app, type InvocationContext } from '@azure/functions';
import { QUEUE_OUTPUTS, queueTrigger } from '../shared/bindings.js';
import { getServices } from '../shared/composition.js';
import { jobEventSchema } from '../shared/domain/events.js';

const deliveries = QUEUE_OUTPUTS.deliveries;

/**
 * A job status change, or news of task changes: one `deliveries` message per subscription that
 * wants it. A message that is neither is logged and dropped: retrying cannot make it one.
 */
export async function notifyJobEvent(message: unknown, context: InvocationContext): Promise<void> {
  const parsed = jobEventSchema.safeParse(message);
  if (!parsed.success) {
    context.warn(`dropped a job-events message that is not a job event: ${parsed.error.message}`);
    return;
  }
  const kicks = await getServices().notifier.fanOut(parsed.data);
  if (kicks.length > 0) context.extraOutputs.set(deliveries, kicks);
}

app.serviceBusQueue('notifyJobEvent', {
  ...queueTrigger('jobEvents'),
  extraOutputs: [deliveries],
  handler: notifyJobEvent,
});

import { z } from 'zod';

const rate = z.number().min(0).max(1);

/**
 * Delivery faults the runtime injects into its signals, to prove the app survives what Azure
 * promises only not to do often: Event Grid and Service Bus deliver at least once (so sometimes
 * twice), and a signal can be lost (an Event Grid event dead-lettered, a subscription misfiled).
 */
export const deliveryFaultsSchema = z.strictObject({
  /** Share of Event Grid events delivered twice (same event id). */
  eventGridDuplicateRate: rate.default(0),
  /** Share of Event Grid events never delivered. */
  eventGridDropRate: rate.default(0),
  /** Share of Service Bus messages sent twice (same message id). */
  serviceBusDuplicateRate: rate.default(0),
});

/** See {@link deliveryFaultsSchema}. */
export type DeliveryFaults = z.infer<typeof deliveryFaultsSchema>;

/** Whether a fault with this rate strikes now. */
export function strikes(rate: number): boolean {
  return rate > 0 && Math.random() < rate;
}

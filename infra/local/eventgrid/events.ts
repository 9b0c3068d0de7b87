import { z } from 'zod';

/** An Event Grid event in the Event Grid schema, as Azure Storage publishes it. */
export interface EventGridEvent {
  id: string;
  topic: string;
  subject: string;
  eventType: string;
  eventTime: string;
  data: Record<string, unknown>;
  dataVersion: string;
  metadataVersion: string;
}

/** One event waiting for delivery to one subscription, with its delivery history. */
export interface PendingEvent {
  event: EventGridEvent;
  attempts: number;
  lastError?: string;
}

/** A queue message: events for one subscription that were published together. */
export interface EventBatch {
  events: PendingEvent[];
}

const eventSchema = z.object({
  id: z.string(),
  topic: z.string(),
  subject: z.string(),
  eventType: z.string(),
  eventTime: z.string(),
  data: z.record(z.string(), z.unknown()),
  dataVersion: z.string(),
  metadataVersion: z.string(),
});

const batchSchema = z.object({
  events: z
    .array(
      z.object({ event: eventSchema, attempts: z.number().int().min(0), lastError: z.string().optional() }),
    )
    .min(1),
});

export function parseEventBatch(value: unknown): EventBatch {
  return batchSchema.parse(value);
}

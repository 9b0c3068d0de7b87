import { z } from 'zod';

/** A Service Bus message as the emulator stores it in an Azure Storage queue. */
export interface ServiceBusMessage {
  messageId: string;
  body: string;
  bodyEncoding: 'text' | 'base64';
  contentType?: string;
  correlationId?: string;
  subject?: string;
  applicationProperties?: Record<string, string | number | boolean | null>;
  enqueuedTimeUtc: string;
  sequenceNumber: number;
  expiresAtUtc?: string;
  /** On dead-lettered copies: where it came from and how many deliveries it had. */
  deadLetterSource?: string;
  deliveryCount?: number;
  /** Deliveries before this copy was stored again (after an abandon): its delivery count goes on from there. */
  priorDeliveries?: number;
}

/**
 * What one storage queue message holds: the Service Bus messages sent together. Storage queue
 * operations are what the emulator spends its time on, so messages sent within a few
 * milliseconds share one (a 10,000-task job sends one per task); each is still delivered,
 * counted, abandoned and dead-lettered on its own.
 */
export interface Carrier {
  messages: ServiceBusMessage[];
  /**
   * Sent held and handed to a receiver in this process, which made the first delivery without
   * a receive: a storage receive after that (the runtime died first) is the second.
   */
  held?: boolean;
}

const messageSchema = z.object({
  messageId: z.string(),
  body: z.string(),
  bodyEncoding: z.enum(['text', 'base64']),
  contentType: z.string().optional(),
  correlationId: z.string().optional(),
  subject: z.string().optional(),
  applicationProperties: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
    .optional(),
  enqueuedTimeUtc: z.string(),
  sequenceNumber: z.number(),
  expiresAtUtc: z.string().optional(),
  deadLetterSource: z.string().optional(),
  deliveryCount: z.number().optional(),
  priorDeliveries: z.number().int().nonnegative().optional(),
});

/** Reads a stored carrier; a lone message (as stored before carriers) is a carrier of one. */
export const carrierSchema: z.ZodType<Carrier, unknown> = z.union([
  z.object({ messages: z.array(messageSchema), held: z.boolean().optional() }),
  messageSchema.transform((message) => ({ messages: [message] })),
]);

/** Messages past this many, or this many bytes of bodies, go in another carrier. */
export const CARRIER_MAX_MESSAGES = 64;
export const CARRIER_MAX_BODY_BYTES = 24 * 1024;

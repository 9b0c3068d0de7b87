import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../util/timespan.js';

/**
 * Queue settings in the format of the Azure Service Bus emulator's Config.json, so the same file
 * describes the queues the Bicep deployment creates.
 */
const queuePropertiesSchema = z.looseObject({
  MaxDeliveryCount: z.number().int().min(1).max(2000).optional(),
  LockDuration: z.string().optional(),
  DefaultMessageTimeToLive: z.string().optional(),
  DeadLetteringOnMessageExpiration: z.boolean().optional(),
  RequiresSession: z.boolean().optional(),
  RequiresDuplicateDetection: z.boolean().optional(),
  DuplicateDetectionHistoryTimeWindow: z.string().optional(),
  ForwardTo: z.string().optional(),
  ForwardDeadLetteredMessagesTo: z.string().optional(),
});

export const serviceBusConfigSchema = z.object({
  UserConfig: z.looseObject({
    Namespaces: z
      .array(
        z.looseObject({
          Name: z.string(),
          Queues: z
            .array(z.object({ Name: z.string().min(1), Properties: queuePropertiesSchema.optional() }))
            .default([]),
        }),
      )
      .default([]),
  }),
});

/** One queue's behaviour, with Service Bus defaults filled in. */
export interface QueueSettings {
  name: string;
  maxDeliveryCount: number;
  lockDurationMs: number;
  /** Undefined: messages never expire. */
  timeToLiveMs: number | undefined;
  deadLetterOnExpiration: boolean;
  requiresSession: boolean;
  declared: boolean;
}

export const DEFAULT_QUEUE: Omit<QueueSettings, 'name' | 'declared'> = {
  maxDeliveryCount: 10,
  lockDurationMs: 60_000,
  timeToLiveMs: undefined,
  deadLetterOnExpiration: false,
  requiresSession: false,
};

export const SERVICE_BUS_CONFIG_FILE = path.join('infra', 'local', 'servicebus.json');

/** Reads the app's Service Bus queue configuration; an app without one gets defaults for every queue. */
export async function loadServiceBusConfig(appDir: string): Promise<Map<string, QueueSettings>> {
  const file = path.join(appDir, SERVICE_BUS_CONFIG_FILE);
  const queues = new Map<string, QueueSettings>();
  if (!existsSync(file)) return queues;
  const parsed = serviceBusConfigSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(
      `${file} is invalid:\n` +
        parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n'),
    );
  }
  for (const namespace of parsed.data.UserConfig.Namespaces) {
    for (const queue of namespace.Queues) {
      const p = queue.Properties ?? {};
      const ttl = p.DefaultMessageTimeToLive ? parseDuration(p.DefaultMessageTimeToLive) : undefined;
      queues.set(queue.Name.toLowerCase(), {
        name: queue.Name,
        maxDeliveryCount: p.MaxDeliveryCount ?? DEFAULT_QUEUE.maxDeliveryCount,
        lockDurationMs: p.LockDuration ? parseDuration(p.LockDuration) : DEFAULT_QUEUE.lockDurationMs,
        // Service Bus treats the maximum TimeSpan as "never".
        timeToLiveMs: ttl !== undefined && ttl < 10 * 365 * 24 * 3600_000 ? ttl : undefined,
        deadLetterOnExpiration: p.DeadLetteringOnMessageExpiration ?? false,
        requiresSession: p.RequiresSession ?? false,
        declared: true,
      });
    }
  }
  return queues;
}

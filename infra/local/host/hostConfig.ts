import { z } from 'zod';
import { parseDuration } from '../util/timespan.js';

const duration = z.string().transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const positiveInt = z.number().int().positive();

/**
 * The parts of host.json the embedded runtime honours. Everything else in host.json is accepted
 * and ignored, as the Functions host ignores settings of extensions it does not load.
 */
export const hostJsonSchema = z.looseObject({
  version: z.literal('2.0'),
  functionTimeout: duration.optional(),
  logging: z
    .looseObject({
      logLevel: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  extensions: z
    .looseObject({
      http: z
        .looseObject({
          routePrefix: z.string().optional(),
          maxConcurrentRequests: positiveInt.optional(),
          maxOutstandingRequests: positiveInt.optional(),
        })
        .optional(),
      durableTask: z
        .looseObject({
          hubName: z
            .string()
            .regex(
              /^[A-Za-z][A-Za-z0-9]{2,44}$/,
              'hubName must be 3-45 letters and digits, starting with a letter',
            )
            .optional(),
          maxConcurrentActivityFunctions: positiveInt.optional(),
          maxConcurrentOrchestratorFunctions: positiveInt.optional(),
          storageProvider: z
            .looseObject({
              partitionCount: z.number().int().min(1).max(16).optional(),
              controlQueueBatchSize: z.number().int().min(1).max(32).optional(),
              maxQueuePollingInterval: duration.optional(),
              controlQueueVisibilityTimeout: duration.optional(),
              workItemQueueVisibilityTimeout: duration.optional(),
            })
            .optional(),
        })
        .optional(),
      serviceBus: z
        .looseObject({
          maxConcurrentCalls: positiveInt.optional(),
          prefetchCount: z.number().int().min(0).optional(),
          autoCompleteMessages: z.boolean().optional(),
          maxAutoLockRenewalDuration: duration.optional(),
          maxMessageBatchSize: positiveInt.optional(),
          minMessageBatchSize: positiveInt.optional(),
          // The extension refuses a wait past 150 seconds.
          maxBatchWaitTime: duration
            .refine((ms) => ms <= 150_000, 'maxBatchWaitTime must be at most 00:02:30')
            .optional(),
        })
        // As the extension checks at start: a minimum above the maximum is an error.
        .refine((sb) => (sb.minMessageBatchSize ?? 1) <= (sb.maxMessageBatchSize ?? 1000), {
          message: 'minMessageBatchSize must not exceed maxMessageBatchSize (1000 unless set)',
          path: ['minMessageBatchSize'],
        })
        .optional(),
      queues: z
        .looseObject({
          batchSize: z.number().int().min(1).max(32).optional(),
          newBatchThreshold: z.number().int().min(0).optional(),
          maxDequeueCount: positiveInt.optional(),
          visibilityTimeout: duration.optional(),
          maxPollingInterval: duration.optional(),
          messageEncoding: z.enum(['base64', 'none']).optional(),
        })
        .optional(),
    })
    .optional(),
});

export type HostJson = z.infer<typeof hostJsonSchema>;

/** host.json with the Functions host's defaults filled in for a machine with `cores` cores. */
export interface HostSettings {
  routePrefix: string;
  functionTimeoutMs: number | undefined;
  logLevels: Record<string, string>;
  durable: {
    hubName: string;
    maxConcurrentActivityFunctions: number;
    maxConcurrentOrchestratorFunctions: number;
    partitionCount: number;
    controlQueueBatchSize: number;
    maxQueuePollingIntervalMs: number;
    controlQueueVisibilityTimeoutMs: number;
    workItemQueueVisibilityTimeoutMs: number;
  };
  serviceBus: {
    maxConcurrentCalls: number;
    maxAutoLockRenewalDurationMs: number;
    autoCompleteMessages: boolean;
    maxMessageBatchSize: number;
    /** A batch function waits for this many messages, up to `maxBatchWaitTimeMs`. */
    minMessageBatchSize: number;
    maxBatchWaitTimeMs: number;
  };
  queues: {
    batchSize: number;
    newBatchThreshold: number;
    maxDequeueCount: number;
    visibilityTimeoutMs: number;
    maxPollingIntervalMs: number;
    /** How storage queue messages are written and read: base64 (the extension's default) or as they are. */
    messageEncoding: 'base64' | 'none';
  };
}

export function resolveHostSettings(hostJson: HostJson, cores: number): HostSettings {
  const ext = hostJson.extensions ?? {};
  const durable = ext.durableTask ?? {};
  const provider = durable.storageProvider ?? {};
  const serviceBus = ext.serviceBus ?? {};
  const queues = ext.queues ?? {};
  const batchSize = queues.batchSize ?? 16;
  return {
    routePrefix: (ext.http?.routePrefix ?? 'api').replace(/^\/+|\/+$/g, ''),
    functionTimeoutMs: hostJson.functionTimeout,
    logLevels: hostJson.logging?.logLevel ?? {},
    durable: {
      // Core Tools' default task hub name when host.json names none.
      hubName: durable.hubName ?? 'TestHubName',
      maxConcurrentActivityFunctions: durable.maxConcurrentActivityFunctions ?? 10 * cores,
      maxConcurrentOrchestratorFunctions: durable.maxConcurrentOrchestratorFunctions ?? 10 * cores,
      partitionCount: provider.partitionCount ?? 4,
      controlQueueBatchSize: provider.controlQueueBatchSize ?? 32,
      // Azure's default is 30 s, tuned for billing on idle polling; locally a short ceiling keeps
      // timers and cross-process signals prompt at a negligible cost.
      maxQueuePollingIntervalMs: provider.maxQueuePollingInterval ?? 1000,
      // Azure's 5 minutes would hold a crashed runtime's in-flight messages that long after a
      // restart; messages in use are renewed, so a short lease only costs a few renewals.
      controlQueueVisibilityTimeoutMs: provider.controlQueueVisibilityTimeout ?? 5_000,
      workItemQueueVisibilityTimeoutMs: provider.workItemQueueVisibilityTimeout ?? 5_000,
    },
    serviceBus: {
      maxConcurrentCalls: serviceBus.maxConcurrentCalls ?? 16 * cores,
      maxAutoLockRenewalDurationMs: serviceBus.maxAutoLockRenewalDuration ?? 5 * 60_000,
      autoCompleteMessages: serviceBus.autoCompleteMessages ?? true,
      maxMessageBatchSize: serviceBus.maxMessageBatchSize ?? 1000,
      minMessageBatchSize: serviceBus.minMessageBatchSize ?? 1,
      maxBatchWaitTimeMs: serviceBus.maxBatchWaitTime ?? 30_000,
    },
    queues: {
      batchSize,
      newBatchThreshold: queues.newBatchThreshold ?? Math.floor(batchSize / 2),
      maxDequeueCount: queues.maxDequeueCount ?? 5,
      visibilityTimeoutMs: queues.visibilityTimeout ?? 0,
      maxPollingIntervalMs: queues.maxPollingInterval ?? 2000,
      messageEncoding: queues.messageEncoding ?? 'base64',
    },
  };
}

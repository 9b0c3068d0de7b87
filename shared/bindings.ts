import { output } from '@azure/functions';
import { SERVICE_BUS_CONNECTION } from './configKeys.js';

/**
 * The Service Bus queues the functions read and write, and their bindings, declared once. The
 * queues' settings are in infra/local/servicebus.json, which the embedded runtime and the Azure
 * templates both read; the drift test holds the three together.
 */
export const QUEUES = {
  /** News that tasks ended, from their log blobs' events; read in batches by `taskEvents`. */
  taskEvents: 'task-events',
  /** Job and task changes, for subscribers; read by `notifyJobEvent`. */
  jobEvents: 'job-events',
  /** Wake-ups of one subscription's stream of one job; read by `deliverNotifications`. */
  deliveries: 'deliveries',
} as const;

/** How a function sends to a queue (`context.extraOutputs.set(binding, messages)`). */
export const QUEUE_OUTPUTS = {
  taskEvents: output.serviceBusQueue({ queueName: QUEUES.taskEvents, connection: SERVICE_BUS_CONNECTION }),
  jobEvents: output.serviceBusQueue({ queueName: QUEUES.jobEvents, connection: SERVICE_BUS_CONNECTION }),
  deliveries: output.serviceBusQueue({ queueName: QUEUES.deliveries, connection: SERVICE_BUS_CONNECTION }),
};

/** The trigger options of a function that reads `queue`. */
export function queueTrigger(queue: keyof typeof QUEUES): { queueName: string; connection: string } {
  return { queueName: QUEUES[queue], connection: SERVICE_BUS_CONNECTION };
}

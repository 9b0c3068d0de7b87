import { app, output, type InvocationContext } from '@azure/functions';
import { SERVICE_BUS_CONNECTION } from '../shared/config.js';
import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { taskSignalSchema, type TaskSignal } from '../shared/domain/events.js';

const jobEvents = output.serviceBusQueue({ queueName: 'job-events', connection: SERVICE_BUS_CONNECTION });

/**
 * Task news, in batches: each named task is read from Batch and recorded, and the job's
 * orchestration hears of milestones; task changes logged for subscribers go on to `job-events`. A message that does not parse is logged and dropped rather
 * than failing the batch it came with.
 */
export async function taskEvents(messages: unknown, context: InvocationContext): Promise<void> {
  const signals: TaskSignal[] = [];
  for (const message of Array.isArray(messages) ? messages : [messages]) {
    const parsed = taskSignalSchema.safeParse(message);
    if (parsed.success) signals.push(parsed.data);
    else context.warn(`dropped a task-events message that is not a task signal: ${parsed.error.message}`);
  }
  const services = getServices();
  const logged = await services.signals.onSignals(signals, services.orchestrations(context).raise);
  if (logged.length > 0) context.extraOutputs.set(jobEvents, logged);
}

app.serviceBusQueue('taskEvents', {
  queueName: 'task-events',
  connection: SERVICE_BUS_CONNECTION,
  cardinality: 'many',
  extraInputs: [df.input.durableClient()],
  extraOutputs: [jobEvents],
  handler: taskEvents,
});

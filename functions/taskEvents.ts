import { app, type InvocationContext } from '@azure/functions';
import { QUEUE_OUTPUTS, queueTrigger } from '../shared/bindings.js';
import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { taskSignalSchema, type TaskSignal } from '../shared/domain/events.js';

const jobEvents = QUEUE_OUTPUTS.jobEvents;

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
  ...queueTrigger('taskEvents'),
  cardinality: 'many',
  extraInputs: [df.input.durableClient()],
  extraOutputs: [jobEvents],
  handler: taskEvents,
});

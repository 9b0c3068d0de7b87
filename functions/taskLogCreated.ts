import { app, type EventGridEvent, type InvocationContext } from '@azure/functions';
import { QUEUE_OUTPUTS } from '../shared/bindings.js';
import { blobCreatedEventSchema, blobOfSubject, taskOfLogBlob } from '../shared/domain/blobEvents.js';
import type { TaskSignal } from '../shared/domain/events.js';

const taskEvents = QUEUE_OUTPUTS.taskEvents;

/**
 * A task's log was uploaded, so one of its attempts ended: pass the news on as a `task-events`
 * message, where it is handled in batches with retries. Anything else is logged and dropped: an
 * event that cannot be parsed will not parse on a retry either.
 */
export function taskLogCreated(event: EventGridEvent, context: InvocationContext): void {
  const parsed = blobCreatedEventSchema.safeParse(event);
  const blob = parsed.success ? blobOfSubject(parsed.data.subject) : undefined;
  const task = blob ? taskOfLogBlob(blob.name) : undefined;
  if (!task) {
    context.warn(`ignored an event that is not a task log: ${String(event.subject)}`);
    return;
  }
  const signal: TaskSignal = { ...task, at: parsed.data!.eventTime };
  context.extraOutputs.set(taskEvents, signal);
}

app.eventGrid('taskLogCreated', { extraOutputs: [taskEvents], handler: taskLogCreated });

import { app, type EventGridEvent, type InvocationContext } from '@azure/functions';
import { QUEUE_OUTPUTS } from '../shared/bindings.js';
import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { blobCreatedEventSchema, blobOfSubject } from '../shared/domain/blobEvents.js';

const jobEvents = QUEUE_OUTPUTS.jobEvents;

/**
 * A manifest arrived in the blob inbox: submit it as its owner's job and start the job, or move
 * it aside with the reason. Passing faults throw, so Event Grid delivers the event again.
 */
export async function inboxBlobCreated(event: EventGridEvent, context: InvocationContext): Promise<void> {
  const parsed = blobCreatedEventSchema.safeParse(event);
  const blob = parsed.success ? blobOfSubject(parsed.data.subject) : undefined;
  if (!parsed.success || !blob) {
    context.warn(`ignored an event that is not a blob creation: ${String(event.subject)}`);
    return;
  }
  const services = getServices();
  const result = await services.intake.accept(blob.name, parsed.data.data.eTag);
  switch (result.outcome) {
    case 'submitted':
      await services.orchestrations(context).start(result.jobId);
      context.extraOutputs.set(jobEvents, result.event);
      context.log(`inbox ${blob.name}: job ${result.jobId}${result.created ? '' : ' (already submitted)'}`);
      return;
    case 'rejected':
      context.warn(`inbox ${blob.name}: rejected (${result.code}), moved to ${result.rejectedAs}`);
      return;
    case 'ignored':
      context.log(`inbox ${blob.name}: ignored, ${result.reason}`);
  }
}

app.eventGrid('inboxBlobCreated', {
  extraInputs: [df.input.durableClient()],
  extraOutputs: [jobEvents],
  handler: inboxBlobCreated,
});

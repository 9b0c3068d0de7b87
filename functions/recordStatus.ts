import { type InvocationContext } from '@azure/functions';
import { QUEUE_OUTPUTS } from '../shared/bindings.js';
import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, statusChangeSchema } from '../shared/orchestration/activities.js';
import { parseInput } from '../shared/domain/issues.js';

const jobEvents = QUEUE_OUTPUTS.jobEvents;

export async function recordStatus(input: unknown, context: InvocationContext) {
  const recorded = await getServices().statuses.record(parseInput(statusChangeSchema, input));
  context.extraOutputs.set(jobEvents, recorded.event);
  return { status: recorded.job.status, sequence: recorded.event.sequence, changed: recorded.changed };
}

df.app.activity(ACTIVITY.recordStatus, { extraOutputs: [jobEvents], handler: recordStatus });

import { output, type InvocationContext } from '@azure/functions';
import { SERVICE_BUS_CONNECTION } from '../shared/config.js';
import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, statusChangeSchema } from '../shared/orchestration/activities.js';
import { parseInput } from '../shared/domain/issues.js';

const jobEvents = output.serviceBusQueue({ queueName: 'job-events', connection: SERVICE_BUS_CONNECTION });

export async function recordStatus(input: unknown, context: InvocationContext) {
  const recorded = await getServices().statuses.record(parseInput(statusChangeSchema, input));
  context.extraOutputs.set(jobEvents, recorded.event);
  return { status: recorded.job.status, sequence: recorded.event.sequence, changed: recorded.changed };
}

df.app.activity(ACTIVITY.recordStatus, { extraOutputs: [jobEvents], handler: recordStatus });

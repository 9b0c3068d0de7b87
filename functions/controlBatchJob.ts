import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, controlInputSchema } from '../shared/orchestration/activities.js';
import { parseInput } from '../shared/domain/issues.js';

export function controlBatchJob(input: unknown) {
  const { jobId, action } = parseInput(controlInputSchema, input);
  return getServices().runner.controlBatchJob(jobId, action);
}

df.app.activity(ACTIVITY.controlBatchJob, { handler: controlBatchJob });

import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, jobInputSchema } from '../shared/orchestration/activities.js';
import { parseInput } from '../shared/domain/issues.js';

export function sealBatchJob(input: unknown) {
  const { jobId } = parseInput(jobInputSchema, input);
  return getServices().runner.sealBatchJob(jobId);
}

df.app.activity(ACTIVITY.sealBatchJob, { handler: sealBatchJob });

import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, jobInputSchema } from '../shared/jobs/activities.js';
import { parseInput } from '../shared/jobs/jobsApi.js';

export function sealBatchJob(input: unknown) {
  const { jobId } = parseInput(jobInputSchema, input);
  return getServices().runner.sealBatchJob(jobId);
}

df.app.activity(ACTIVITY.sealBatchJob, { handler: sealBatchJob });

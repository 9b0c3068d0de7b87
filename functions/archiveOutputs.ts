import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, jobInputSchema } from '../shared/jobs/activities.js';
import { parseInput } from '../shared/jobs/jobsApi.js';

export function archiveOutputs(input: unknown) {
  const { jobId } = parseInput(jobInputSchema, input);
  return getServices().runner.archiveOutputs(jobId);
}

df.app.activity(ACTIVITY.archiveOutputs, { handler: archiveOutputs });

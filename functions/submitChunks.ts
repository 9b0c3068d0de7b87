import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, submitChunksInputSchema } from '../shared/jobs/activities.js';
import { parseInput } from '../shared/jobs/jobsApi.js';

export function submitChunks(input: unknown) {
  const { jobId, from, to } = parseInput(submitChunksInputSchema, input);
  return getServices().runner.submitChunks(jobId, from, to);
}

df.app.activity(ACTIVITY.submitChunks, { handler: submitChunks });

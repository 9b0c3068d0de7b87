import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, submitChunksInputSchema } from '../shared/orchestration/activities.js';
import { parseInput } from '../shared/domain/issues.js';

export function submitChunks(input: unknown) {
  const { jobId, from, to, set } = parseInput(submitChunksInputSchema, input);
  return getServices().runner.submitChunks(jobId, from, to, set);
}

df.app.activity(ACTIVITY.submitChunks, { handler: submitChunks });

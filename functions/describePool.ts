import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, jobInputSchema } from '../shared/orchestration/activities.js';
import { parseInput } from '../shared/domain/issues.js';

export function describePool(input: unknown) {
  const { jobId } = parseInput(jobInputSchema, input);
  return getServices().runner.describePool(jobId);
}

df.app.activity(ACTIVITY.describePool, { handler: describePool });

import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, settleInputSchema } from '../shared/orchestration/activities.js';
import { parseInput } from '../shared/domain/issues.js';

export function settleTasks(input: unknown) {
  const { jobId, leftover } = parseInput(settleInputSchema, input);
  return getServices().runner.settleTasks(jobId, leftover);
}

df.app.activity(ACTIVITY.settleTasks, { handler: settleTasks });

import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, jobInputSchema } from '../shared/orchestration/activities.js';
import { parseInput } from '../shared/domain/issues.js';

export function tasksAllDone(input: unknown) {
  const { jobId } = parseInput(jobInputSchema, input);
  return getServices().runner.tasksAllDone(jobId);
}

df.app.activity(ACTIVITY.tasksAllDone, { handler: tasksAllDone });

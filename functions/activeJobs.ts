import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, activeJobsInputSchema } from '../shared/orchestration/activities.js';
import { parseInput } from '../shared/domain/issues.js';

export function activeJobs(input: unknown) {
  const { jobIds } = parseInput(activeJobsInputSchema, input);
  return getServices().runner.activeJobs(jobIds);
}

df.app.activity(ACTIVITY.activeJobs, { handler: activeJobs });

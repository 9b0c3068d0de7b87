import * as df from 'durable-functions';
import { getServices } from '../shared/composition.js';
import { ACTIVITY, stageAddedTasksInputSchema } from '../shared/orchestration/activities.js';
import { parseInput } from '../shared/domain/issues.js';

export function stageAddedTasks(input: unknown) {
  const { jobId, ...added } = parseInput(stageAddedTasksInputSchema, input);
  return getServices().additions.stage(jobId, added);
}

df.app.activity(ACTIVITY.stageAddedTasks, { handler: stageAddedTasks });

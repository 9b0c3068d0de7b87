import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { QUEUE_OUTPUTS } from '../shared/bindings.js';
import { apiHandler, json } from '../shared/http/endpoint.js';

const jobEvents = QUEUE_OUTPUTS.jobEvents;

export const jobsTaskCancel = apiHandler(async ({ request, context, caller, services }) => {
  const { id, taskId } = request.params;
  const { task, logged } = await services.controls.cancelTask(
    caller,
    id!,
    taskId!,
    services.signals,
    services.orchestrations(context).raise,
  );
  // Subscribers to task events hear of the cancel (and what it skipped) as of any other change.
  if (logged.length > 0) context.extraOutputs.set(jobEvents, logged);
  return json(200, task);
});

app.http('jobsTaskCancel', {
  route: 'jobs/{id}/tasks/{taskId}/cancel',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  extraOutputs: [jobEvents],
  handler: jobsTaskCancel,
});

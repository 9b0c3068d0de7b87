import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { apiHandler, json } from '../shared/http/endpoint.js';
import { jobView } from '../shared/jobs/jobsApi.js';

export const jobsComplete = apiHandler(async ({ request, context, caller, services }) => {
  const job = await services.jobs.signal(
    caller,
    request.params.id!,
    'complete',
    services.orchestrations(context),
  );
  return json(202, jobView(job), { Location: `/api/jobs/${job.id}` });
});

app.http('jobsComplete', {
  route: 'jobs/{id}/complete',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  handler: jobsComplete,
});

import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { apiHandler, json } from '../shared/http/endpoint.js';
import { jobView } from '../shared/jobs/jobsApi.js';

export const jobsResume = apiHandler(async ({ request, context, caller, services }) => {
  const job = await services.jobs.signal(
    caller,
    request.params.id!,
    'resume',
    services.orchestrations(context),
  );
  return json(202, jobView(job), { Location: `/api/jobs/${job.id}` });
});

app.http('jobsResume', {
  route: 'jobs/{id}/resume',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [df.input.durableClient()],
  handler: jobsResume,
});

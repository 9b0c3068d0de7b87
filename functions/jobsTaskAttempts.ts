import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

export const jobsTaskAttempts = apiHandler(async ({ request, caller, services }) => {
  const { id, taskId } = request.params;
  const attempts = await services.files.attempts(caller, id!, taskId!);
  const base = `/api/jobs/${encodeURIComponent(id!)}/tasks/${encodeURIComponent(taskId!)}/attempts`;
  return json(200, {
    ...attempts,
    items: attempts.items.map((item) => ({
      ...item,
      links: {
        stdout: `${base}/${item.attempt}/logs/stdout`,
        stderr: `${base}/${item.attempt}/logs/stderr`,
      },
    })),
  });
});

app.http('jobsTaskAttempts', {
  route: 'jobs/{id}/tasks/{taskId}/attempts',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsTaskAttempts,
});

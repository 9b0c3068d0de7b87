import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

export const jobsOutputs = apiHandler(async ({ request, caller, services }) => {
  const id = request.params.id!;
  const listing = await services.files.outputs(caller, id);
  return json(200, {
    archived: listing.archived,
    bytes: listing.bytes,
    files: listing.files.map((file) => ({
      ...file,
      links: {
        download: `/api/jobs/${id}/outputs/${file.path.split('/').map(encodeURIComponent).join('/')}`,
      },
    })),
  });
});

app.http('jobsOutputs', {
  route: 'jobs/{id}/outputs',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsOutputs,
});

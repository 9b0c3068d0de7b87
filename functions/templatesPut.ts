import { app } from '@azure/functions';
import { apiHandler, json, readJson } from '../shared/http/endpoint.js';

export const templatesPut = apiHandler(async ({ request, caller, services }) => {
  const body = await readJson(request, services.config.maxBodyBytes);
  const { template, created } = await services.jobs.putTemplate(
    caller,
    request.params.name!,
    request.params.version!,
    body.value,
  );
  return json(created ? 201 : 200, template, {
    Location: `/api/templates/${template.name}/versions/${template.version}`,
  });
});

app.http('templatesPut', {
  route: 'templates/{name}/versions/{version}',
  methods: ['PUT'],
  authLevel: 'anonymous',
  handler: templatesPut,
});

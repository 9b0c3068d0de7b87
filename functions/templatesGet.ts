import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

export const templatesGet = apiHandler(async ({ request, caller, services }) =>
  json(200, await services.jobs.template(caller, request.params.name!)),
);

app.http('templatesGet', {
  route: 'templates/{name}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: templatesGet,
});

import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

export const templatesList = apiHandler(async ({ caller, services }) =>
  json(200, { items: await services.jobs.templates(caller) }),
);

app.http('templatesList', {
  route: 'templates',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: templatesList,
});

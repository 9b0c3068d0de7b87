import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';
import { secretView } from '../shared/http/views.js';

export const secretsList = apiHandler(async ({ caller, services }) =>
  json(200, { items: (await services.secrets.list(caller)).map(secretView) }),
);

app.http('secretsList', { route: 'secrets', methods: ['GET'], authLevel: 'anonymous', handler: secretsList });

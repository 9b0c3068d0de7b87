import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

export const me = apiHandler(({ caller }) =>
  Promise.resolve(json(200, { owner: caller.owner, admin: caller.admin, via: caller.via })),
);

app.http('me', { route: 'me', methods: ['GET'], authLevel: 'anonymous', handler: me });

import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

export const poolsList = apiHandler(async ({ services }) =>
  json(200, { items: await services.pools.list() }),
);

app.http('poolsList', { route: 'pools', methods: ['GET'], authLevel: 'anonymous', handler: poolsList });

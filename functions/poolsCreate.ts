import { app } from '@azure/functions';
import { apiHandler, json, readJson } from '../shared/http/endpoint.js';

export const poolsCreate = apiHandler(async ({ request, caller, services }) => {
  const body = await readJson(request, services.config.maxBodyBytes);
  const pool = await services.pools.create(caller, body.value);
  return json(201, pool, { Location: `/api/pools/${pool.id}` });
});

app.http('poolsCreate', { route: 'pools', methods: ['POST'], authLevel: 'anonymous', handler: poolsCreate });

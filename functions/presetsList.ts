import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

// Declared by the deployment (CLOUDJOBS_PRESETS), so anyone signed in may read them.
export const presetsList = apiHandler(({ services }) =>
  Promise.resolve(json(200, { items: services.config.presets })),
);

app.http('presetsList', { route: 'presets', methods: ['GET'], authLevel: 'anonymous', handler: presetsList });

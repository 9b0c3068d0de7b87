import { app, type HttpResponseInit } from '@azure/functions';
import { openApiDocument } from '../shared/http/openapi.js';

// Generated once: the schemas do not change while the app runs.
let document: Record<string, unknown> | undefined;

export function openapi(): HttpResponseInit {
  document ??= openApiDocument();
  return { status: 200, jsonBody: document, headers: { 'Cache-Control': 'public, max-age=300' } };
}

app.http('openapi', { route: 'openapi.json', methods: ['GET'], authLevel: 'anonymous', handler: openapi });

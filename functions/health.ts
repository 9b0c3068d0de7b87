import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { getServices } from '../shared/composition.js';
import { checkHealth } from '../shared/health.js';

export async function health(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const report = await checkHealth(getServices().healthProbes);
  return {
    status: report.healthy ? 200 : 503,
    headers: { 'Cache-Control': 'no-store' },
    jsonBody: { status: report.healthy ? 'ok' : 'unavailable', checks: report.checks },
  };
}

app.http('health', { route: 'health', methods: ['GET'], authLevel: 'anonymous', handler: health });

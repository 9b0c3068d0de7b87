import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { getServices } from '../shared/composition.js';
import { json, readJson } from '../shared/http/endpoint.js';
import { problemResponse } from '../shared/http/problems.js';
import { parseInput } from '../shared/domain/issues.js';
import { rolesFromClaims, rolesSourceRequestSchema } from '../shared/identity.js';

/**
 * The dashboard's Static Web App asks this, as its `rolesSource`, which roles someone who just
 * signed in has. It answers from the claims it is sent and keeps nothing, so a caller learns
 * only what it already told; the roles matter only as the Static Web App then vouches for them.
 */
export async function dashboardRoles(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  try {
    const { config } = getServices();
    const body = parseInput(rolesSourceRequestSchema, (await readJson(request, 64 * 1024)).value);
    const adminRole = config.identity.kind === 'appServiceAuth' ? config.identity.adminRole : undefined;
    return json(200, { roles: rolesFromClaims(body.claims, adminRole) });
  } catch (error) {
    return problemResponse(error, context, new URL(request.url).pathname);
  }
}

app.http('dashboardRoles', {
  route: 'dashboard/roles',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: dashboardRoles,
});

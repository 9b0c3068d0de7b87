import { app } from '@azure/functions';
import { apiHandler, json } from '../shared/http/endpoint.js';

/** A new secret for the caller's per-job webhooks, shown this once. */
export const subscriptionsSigningSecret = apiHandler(async ({ caller, services }) => {
  const secret = await services.subscriptions.rotateSigningSecret(caller);
  return json(201, { secret, signs: 'webhooks declared in your job specs (notifications)' });
});

app.http('subscriptionsSigningSecret', {
  route: 'subscriptions/signing-secret',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: subscriptionsSigningSecret,
});

/**
 * What the dashboard's staticwebapp.config.json says on Azure, where the Static Web App signs
 * people in with the deployment's Microsoft Entra app registration. The build adds it when the
 * deployment gives the issuer (azd passes its outputs to the build); a local build has none, so
 * the embedded runtime and the Static Web Apps CLI's mock sign-in serve the file as committed.
 */

/** App settings of the Static Web App that hold the registration (infra/azure sets them). */
export const SIGN_IN_SETTINGS = { clientId: 'AZURE_CLIENT_ID', clientSecret: 'AZURE_CLIENT_SECRET' } as const;

/** Where the Static Web App asks the API which roles a person has (functions/dashboardRoles.ts). */
export const ROLES_SOURCE = '/api/dashboard/roles';

/** The environment variable the build reads the issuer from (a Bicep output). */
export const ISSUER_VARIABLE = 'CLOUDJOBS_DASHBOARD_OPENID_ISSUER';

type Config = Record<string, unknown> & { routes?: unknown[] };

/** `config` with sign-in through the registration that `openIdIssuer` belongs to. */
export function withSignIn(config: Config, openIdIssuer: string): Config {
  if (!/^https:\/\/[^/]+\/[0-9a-f-]{36}\/v2\.0$/.test(openIdIssuer))
    throw new Error(`${ISSUER_VARIABLE} must be https://<login host>/<tenant id>/v2.0, not ${openIdIssuer}`);
  return {
    ...config,
    auth: {
      // App roles are claims, which the Static Web App does not pass on: the API maps them to roles.
      rolesSource: ROLES_SOURCE,
      identityProviders: {
        azureActiveDirectory: {
          registration: {
            openIdIssuer,
            clientIdSettingName: SIGN_IN_SETTINGS.clientId,
            clientSecretSettingName: SIGN_IN_SETTINGS.clientSecret,
          },
        },
      },
    },
    // The pages load for anyone (they offer the sign-in); the API is for people signed in.
    routes: [...(config.routes ?? []), { route: '/api/*', allowedRoles: ['authenticated'] }],
  };
}

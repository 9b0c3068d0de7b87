import { ISSUER_VARIABLE, SIGN_IN_SETTINGS, withSignIn } from '../../web/swaSignIn.js';
import { Unknown, type Value } from './armTemplate.js';
import { ROLES, text, type DriftCheck } from './drift.js';

/** Where Static Web Apps can be created. */
const STATIC_WEB_APP_REGIONS = ['westus2', 'centralus', 'eastus2', 'westeurope', 'eastasia'];
/** The azure.yaml service that deploys dashboard (azd finds the site by this tag). */
export const DASHBOARD_SERVICE = 'web';

const at = (value: Value | undefined, ...path: string[]): Value | undefined =>
  path.reduce<Value | undefined>(
    (node, key) =>
      node !== null && typeof node === 'object' && !Array.isArray(node) && !(node instanceof Unknown)
        ? (node as Record<string, Value>)[key]
        : undefined,
    value,
  );

/**
 * The dashboard: with `dashboard` on, a Standard Static Web App in a region that has them,
 * tagged for azd, linked to this Function App, signing people in with the app registration whose
 * secret it reads from Key Vault (that secret alone), the settings named as the dashboard's build
 * names them; and the Function App's authentication accepting the site's calls while keeping
 * health and Event Grid open. Without it, no site.
 */
export function checkDashboard(c: DriftCheck): void {
  const sites = c.ofType('Microsoft.Web/staticSites');
  if (c.variant.parameters.dashboard !== true) {
    if (sites.length > 0) c.problems.push('a Static Web App is created though the dashboard is off');
    return;
  }
  const site = c.one('Microsoft.Web/staticSites');
  if (!site || !c.site) return;
  if (text(at(site.fields.sku, 'name')) !== 'Standard')
    c.problems.push(
      'the dashboard is not on the Standard plan, which linked backends and custom sign-in need',
    );
  if (!STATIC_WEB_APP_REGIONS.includes(text(site.fields.location)))
    c.problems.push(
      `the dashboard is in ${text(site.fields.location)}, where Static Web Apps cannot be created`,
    );
  if (text(at(site.fields.tags, 'azd-service-name')) !== DASHBOARD_SERVICE)
    c.problems.push(
      `the dashboard is not tagged azd-service-name ${DASHBOARD_SERVICE}, so azd cannot deploy it`,
    );
  if (text(at(site.fields.identity, 'type')) !== 'SystemAssigned')
    c.problems.push('the dashboard has no identity to read its sign-in secret with');

  const links = c.ofType('Microsoft.Web/staticSites/linkedBackends');
  if (links.length !== 1 || !links[0]!.name.startsWith(`${site.name}/`))
    c.problems.push('the dashboard has no linked backend');
  else if (!text(links[0]!.properties.backendResourceId).endsWith(`/Microsoft.Web/sites/${c.site.name}`))
    c.problems.push('the dashboard is linked to something other than the Function App');

  const settings = c
    .ofType('Microsoft.Web/staticSites/config')
    .find((r) => r.name === `${site.name}/appsettings`)?.properties;
  const names = Object.values(SIGN_IN_SETTINGS);
  if (!settings || Object.keys(settings).sort().join() !== [...names].sort().join())
    c.problems.push(`the dashboard's settings are not exactly ${names.join(', ')}, which its sign-in reads`);
  else {
    if (text(settings[SIGN_IN_SETTINGS.clientId]) !== text(c.variant.parameters.entraClientId))
      c.problems.push('the dashboard signs in with another app registration than the API');
    checkSecretReference(c, site.name, text(settings[SIGN_IN_SETTINGS.clientSecret]));
  }

  const auth = c.all.find(
    (r) => r.type === 'Microsoft.Web/sites/config' && r.name === `${c.site!.name}/authsettingsV2`,
  );
  const provider = at(auth?.properties, 'identityProviders', 'azureStaticWebApps');
  if (at(provider, 'enabled') !== true || !text(at(provider, 'registration', 'clientId')).includes(site.name))
    c.problems.push(
      "the Function App's authentication does not take the dashboard's calls (azureStaticWebApps)",
    );
  const excluded = at(auth?.properties, 'globalValidation', 'excludedPaths');
  for (const path of ['/api/health', '/runtime/webhooks/eventgrid'])
    if (!Array.isArray(excluded) || !excluded.includes(path))
      c.problems.push(`the Function App's authentication closes ${path}`);

  const issuer = c.main.outputs.CLOUDJOBS_DASHBOARD_OPENID_ISSUER;
  try {
    withSignIn({}, text(issuer));
  } catch (error) {
    c.problems.push(`output ${ISSUER_VARIABLE} would not build the dashboard: ${(error as Error).message}`);
  }
}

/** The client secret: a Key Vault reference to a stored secret, which the site alone may read. */
function checkSecretReference(c: DriftCheck, siteName: string, value: string): void {
  const vault = /^@Microsoft\.KeyVault\(VaultName=([^;]+);SecretName=([^)]+)\)$/.exec(value);
  if (!vault) {
    c.problems.push("the dashboard's client secret is not a Key Vault reference");
    return;
  }
  const secret = `${vault[1]}/${vault[2]}`;
  if (!c.ofType('Microsoft.KeyVault/vaults/secrets').some((r) => r.name === secret))
    c.problems.push(`the dashboard's client secret refers to ${secret}, which the templates do not store`);
  const principal = `reference(Microsoft.Web/staticSites ${siteName}).identity.principalId`;
  if (!c.hasRole(principal, 'Key Vault Secrets User', 'Microsoft.KeyVault/vaults/secrets', secret))
    c.problems.push(`the dashboard's identity cannot read ${secret}`);
  for (const role of c.roles.filter((r) => r.principal === principal))
    if (!(role.scopeName === secret && role.role.endsWith(ROLES['Key Vault Secrets User'])))
      c.problems.push(`the dashboard's identity has a role on ${role.scopeName} that it does not need`);
}

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROLES_SOURCE, SIGN_IN_SETTINGS, withSignIn } from '../../../web/swaSignIn.js';
import { staticSite } from '../../../infra/local/http/staticSite.js';

const root = path.resolve(import.meta.dirname, '../../..');
const committed = JSON.parse(
  readFileSync(path.join(root, 'web/public/staticwebapp.config.json'), 'utf8'),
) as Record<string, unknown>;
const ISSUER = 'https://login.microsoftonline.com/0e3c2f6a-0000-4000-8000-00000000c11e/v2.0';

describe('the dashboard’s Static Web App configuration on Azure', () => {
  it('should sign in with the deployment’s registration only, keeping the rest as committed', () => {
    const config = withSignIn(committed, ISSUER);
    expect(config).toMatchObject({
      navigationFallback: committed.navigationFallback,
      globalHeaders: committed.globalHeaders,
      auth: {
        rolesSource: ROLES_SOURCE,
        identityProviders: {
          azureActiveDirectory: {
            registration: {
              openIdIssuer: ISSUER,
              clientIdSettingName: SIGN_IN_SETTINGS.clientId,
              clientSecretSettingName: SIGN_IN_SETTINGS.clientSecret,
            },
          },
        },
      },
      routes: [{ route: '/api/*', allowedRoles: ['authenticated'] }],
    });
    // The roles source is an API route the app has.
    expect(ROLES_SOURCE).toMatch(/^\/api\//);
  });

  it.each([
    ['a tenant-less issuer', 'https://login.microsoftonline.com/common/v2.0'],
    ['a v1 issuer', 'https://sts.windows.net/0e3c2f6a-0000-4000-8000-00000000c11e/'],
    ['plain http', ISSUER.replace('https', 'http')],
  ])('should refuse %s', (_case, issuer) => {
    expect(() => withSignIn(committed, issuer)).toThrow(/CLOUDJOBS_DASHBOARD_OPENID_ISSUER/);
  });

  it('should keep sign-in out of the committed file, and a deployment build still serves locally', () => {
    expect(committed).not.toHaveProperty('auth');
    const dir = mkdtempSync(path.join(tmpdir(), 'swa-'));
    writeFileSync(path.join(dir, 'staticwebapp.config.json'), JSON.stringify(withSignIn(committed, ISSUER)));
    expect(() => staticSite(dir)).not.toThrow();
  });
});

import { describe, expect, it } from 'vitest';
import {
  identify,
  parseApiTokens,
  rolesFromClaims,
  UnauthenticatedError,
  type IdentityMode,
} from '../../../shared/identity.js';

const headers = (values: Record<string, string>) => new Headers(values);
const principal = (claims: Array<{ typ: string; val: string }>, extra: Record<string, string> = {}) =>
  Buffer.from(
    JSON.stringify({ auth_typ: 'aad', name_typ: 'preferred_username', role_typ: 'roles', claims, ...extra }),
  ).toString('base64');

describe('identity', () => {
  const tokens: IdentityMode = {
    kind: 'tokens',
    tokens: parseApiTokens('alice=alice-token-0123456789,ops:admin=ops-token-0123456789'),
  };

  it('should make every caller "local" when nothing is configured, whatever they send', () => {
    expect(
      identify(
        { kind: 'local' },
        headers({ authorization: 'Bearer whatever', 'x-ms-client-principal-name': 'mallory' }),
      ),
    ).toEqual({
      owner: 'local',
      admin: false,
      via: 'local',
    });
  });

  it.each([
    ['alice', 'Bearer alice-token-0123456789', { owner: 'alice', admin: false }],
    ['an admin token', 'Bearer ops-token-0123456789', { owner: 'ops', admin: true }],
    ['a lower-case scheme', 'bearer alice-token-0123456789', { owner: 'alice', admin: false }],
  ])('should recognise %s by token', (_case, authorization, expected) => {
    expect(identify(tokens, headers({ authorization }))).toMatchObject({ ...expected, via: 'token' });
  });

  it.each([
    ['no header', {}],
    ['a wrong token', { authorization: 'Bearer alice-token-0123456780' }],
    ['a prefix of a token', { authorization: 'Bearer alice-token' }],
    ['another scheme', { authorization: 'Basic YWxpY2U6cHc=' }],
    [
      'forged App Service headers',
      { 'x-ms-client-principal-name': 'alice', 'x-ms-client-principal': principal([]) },
    ],
  ])('should refuse %s with tokens configured', (_case, values) => {
    expect(() => identify(tokens, headers(values))).toThrow(UnauthenticatedError);
  });

  it('should take the App Service principal, lower-cased, with the admin role from its claims', () => {
    const mode: IdentityMode = { kind: 'appServiceAuth', adminRole: 'cloudjobs.admin' };
    expect(
      identify(
        mode,
        headers({
          'x-ms-client-principal': principal([
            { typ: 'preferred_username', val: 'Alice@Contoso.com' },
            { typ: 'roles', val: 'cloudjobs.admin' },
          ]),
        }),
      ),
    ).toEqual({ owner: 'alice@contoso.com', admin: true, via: 'appServiceAuth' });
    expect(
      identify(
        mode,
        headers({ 'x-ms-client-principal-name': 'bob@contoso.com', 'x-ms-client-principal': principal([]) }),
      ),
    ).toMatchObject({
      owner: 'bob@contoso.com',
      admin: false,
    });
    expect(() => identify(mode, headers({}))).toThrow(/sign in/);
    expect(() => identify(mode, headers({ 'x-ms-client-principal': 'not base64 json' }))).toThrow(
      /malformed/,
    );
  });

  it('should take the principal a Static Web App passes its linked backend, with its roles', () => {
    const mode: IdentityMode = { kind: 'appServiceAuth', adminRole: 'cloudjobs.admin' };
    const swa = (principal: Record<string, unknown>) => ({
      'x-ms-client-principal': Buffer.from(JSON.stringify(principal)).toString('base64'),
    });
    expect(
      identify(
        mode,
        headers(
          swa({
            identityProvider: 'aad',
            userId: 'd75b260a64504067bfc5b2905e3b8182',
            userDetails: 'Carol@Contoso.com',
            userRoles: ['anonymous', 'authenticated', 'cloudjobs.admin'],
          }),
        ),
      ),
    ).toEqual({ owner: 'carol@contoso.com', admin: true, via: 'appServiceAuth' });
    expect(
      identify(
        mode,
        headers(
          swa({ identityProvider: 'aad', userDetails: 'dave@contoso.com', userRoles: ['authenticated'] }),
        ),
      ),
    ).toMatchObject({ owner: 'dave@contoso.com', admin: false });
    // A principal with no name in either shape is no one.
    expect(() =>
      identify(mode, headers(swa({ identityProvider: 'aad', userRoles: ['authenticated'] }))),
    ).toThrow(/no usable name/);
    // The Static Web App's principal for a visitor who has not signed in is no one either.
    expect(() =>
      identify(
        mode,
        headers(
          swa({
            identityProvider: 'azureStaticWebApps',
            userId: 'anonymous',
            userDetails: 'anonymous',
            userRoles: ['anonymous'],
          }),
        ),
      ),
    ).toThrow(/no authenticated principal/);
  });

  it('should give the admin role, and only it, to holders of the admin app role', () => {
    const claims = (...roles: Array<[string, string]>) => roles.map(([typ, val]) => ({ typ, val }));
    expect(
      rolesFromClaims(claims(['roles', 'cloudjobs.admin'], ['roles', 'other']), 'cloudjobs.admin'),
    ).toEqual(['cloudjobs.admin']);
    expect(
      rolesFromClaims(
        claims(['http://schemas.microsoft.com/ws/2008/06/identity/claims/role', 'cloudjobs.admin']),
        'cloudjobs.admin',
      ),
    ).toEqual(['cloudjobs.admin']);
    // A name or group that happens to read like the role is not the role.
    expect(
      rolesFromClaims(claims(['name', 'cloudjobs.admin'], ['groups', 'cloudjobs.admin']), 'cloudjobs.admin'),
    ).toEqual([]);
    expect(rolesFromClaims(claims(['roles', 'cloudjobs.admin']), undefined)).toEqual([]);
  });

  it.each([
    ['a missing token', 'alice', /entry 1/],
    ['a short token', 'alice=short', /shorter than 16/],
    ['a bad name', '../x=0123456789abcdef', /valid name/],
    ['an unknown role', 'alice:root=0123456789abcdef', /name:admin=token/],
  ])('should refuse API tokens with %s, without echoing the token', (_case, value, message) => {
    expect(() => parseApiTokens(value)).toThrow(message);
    try {
      parseApiTokens(value);
    } catch (error) {
      expect((error as Error).message).not.toContain('0123456789abcdef');
    }
  });
});

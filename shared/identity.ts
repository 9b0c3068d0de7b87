import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { AppError, ValidationError } from './errors.js';

/** Who is calling: the owner of what they create, and whether they may see everyone's jobs. */
export interface Caller {
  owner: string;
  admin: boolean;
  /** How the caller was recognised. */
  via: 'appServiceAuth' | 'token' | 'local' | 'inbox';
}

/** What `GET /me` answers: who the service takes the caller to be. */
export const callerViewSchema = z.object({
  owner: z.string().describe('the owner of the jobs you submit'),
  admin: z.boolean().describe('whether you may see and manage everyone’s jobs and change pools'),
  via: z
    .enum(['appServiceAuth', 'token', 'local', 'inbox'])
    .describe('how you were recognised: signed in, an API token, or single-user mode'),
});

/** An owner name: it becomes part of blob paths (`job-inbox/<owner>/`) and table keys. */
export const ownerSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/, 'must be 1-128 of letters, digits, "_", ".", "@" and "-"');

/** How callers are identified; chosen once from the configuration. */
export type IdentityMode =
  { kind: 'appServiceAuth'; adminRole: string } | { kind: 'tokens'; tokens: ApiToken[] } | { kind: 'local' };

export interface ApiToken {
  owner: string;
  admin: boolean;
  /** SHA-256 of the token: compared in constant time, never kept in the clear. */
  digest: Buffer;
}

/**
 * Whose jobs a request is about: the caller's own, or, for an admin, the owner it names. Anyone
 * else naming another owner is refused at the `owner` field; `verb` says what they tried.
 */
export function requestedOwner(caller: Caller, owner: string | undefined, verb: 'list' | 'follow'): string {
  if (owner && owner !== caller.owner && !caller.admin) {
    throw new ValidationError('the request is invalid: 1 problem', [
      { path: 'owner', message: `only admins may ${verb} other owners’ jobs` },
    ]);
  }
  return owner ?? caller.owner;
}

/** The request is not from a known caller (401). */
export class UnauthenticatedError extends AppError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message, 401, 'none');
  }
}

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

/**
 * Parses `CLOUDJOBS_API_TOKENS`: `name=token` pairs separated by commas; `name:admin=token` marks
 * an admin. Throws with the entry's position (never its token) when an entry is malformed.
 */
export function parseApiTokens(value: string): ApiToken[] {
  const tokens: ApiToken[] = [];
  value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .forEach((entry, i) => {
      const eq = entry.indexOf('=');
      const [name = '', role] = (eq === -1 ? entry : entry.slice(0, eq)).split(':');
      const token = eq === -1 ? '' : entry.slice(eq + 1);
      if (!ownerSchema.safeParse(name).success || (role !== undefined && role !== 'admin')) {
        throw new Error(`entry ${i + 1} must be name=token or name:admin=token with a valid name`);
      }
      if (token.length < 16)
        throw new Error(`entry ${i + 1} (${name}) has a token shorter than 16 characters`);
      tokens.push({ owner: name, admin: role === 'admin', digest: digest(token) });
    });
  return tokens;
}

/** Reads a header case-insensitively from a Headers-like object. */
export interface HeaderSource {
  get(name: string): string | null;
}

/**
 * The signed-in principal as the platform passes it, in either of its two shapes: App Service
 * authentication's (claims, with the name and role claim types) or, behind a Static Web App whose
 * linked backend this app is, the Static Web App's (`userDetails`, `userRoles`; no claims).
 */
const principalSchema = z.object({
  auth_typ: z.string().optional(),
  name_typ: z.string().optional(),
  role_typ: z.string().optional(),
  claims: z.array(z.object({ typ: z.string(), val: z.string() })).default([]),
  identityProvider: z.string().optional(),
  userDetails: z.string().optional(),
  userRoles: z.array(z.string()).default([]),
});

/**
 * Identifies the caller of a request. App Service authentication headers are trusted only in that
 * mode (the platform strips client-sent copies there; anywhere else a client could forge them).
 */
export function identify(mode: IdentityMode, headers: HeaderSource): Caller {
  switch (mode.kind) {
    case 'local':
      return { owner: 'local', admin: false, via: 'local' };
    case 'tokens': {
      const authorization = headers.get('authorization') ?? '';
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match) throw new UnauthenticatedError('send Authorization: Bearer <token>');
      const given = digest(match[1]!);
      let found: ApiToken | undefined;
      // Every token is compared, so the time taken does not say which one came close.
      for (const token of mode.tokens) {
        if (timingSafeEqual(token.digest, given) && !found) found = token;
      }
      if (!found) throw new UnauthenticatedError('the token is not valid');
      return { owner: found.owner, admin: found.admin, via: 'token' };
    }
    case 'appServiceAuth': {
      const encoded = headers.get('x-ms-client-principal');
      if (!encoded) throw new UnauthenticatedError('sign in: the request carries no authenticated principal');
      let principal: z.infer<typeof principalSchema>;
      try {
        principal = principalSchema.parse(JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')));
      } catch {
        throw new UnauthenticatedError('the authenticated principal header is malformed');
      }
      // A Static Web App passes a principal for anonymous visitors too; only signed-in ones count.
      if (principal.identityProvider !== undefined && !principal.userRoles.includes('authenticated')) {
        throw new UnauthenticatedError('sign in: the request carries no authenticated principal');
      }
      const claim = (...types: string[]) => principal.claims.find((c) => types.includes(c.typ))?.val;
      const name =
        headers.get('x-ms-client-principal-name') ??
        claim(principal.name_typ ?? '', 'preferred_username', 'email', 'name') ??
        principal.userDetails ??
        headers.get('x-ms-client-principal-id');
      const owner = name?.toLowerCase();
      if (!owner || !ownerSchema.safeParse(owner).success) {
        throw new UnauthenticatedError('the authenticated principal has no usable name');
      }
      const roleType = principal.role_typ ?? 'roles';
      const roles = [
        ...principal.claims.filter((c) => c.typ === roleType || c.typ === 'roles').map((c) => c.val),
        ...principal.userRoles,
      ];
      return { owner, admin: roles.includes(mode.adminRole), via: 'appServiceAuth' };
    }
  }
}

/** Claim types Microsoft Entra ID gives app roles under (v2 tokens, and as App Service maps them). */
const ROLE_CLAIMS = ['roles', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role'];

/**
 * What a Static Web App's `rolesSource` sends after someone signs in: their claims (it passes
 * none on to the API later, so app roles reach the app only as the roles this answers).
 */
export const rolesSourceRequestSchema = z.looseObject({
  identityProvider: z.string().optional(),
  userId: z.string().optional(),
  userDetails: z.string().optional(),
  claims: z
    .array(z.looseObject({ typ: z.string(), val: z.string() }))
    .max(1000)
    .default([]),
});

/**
 * The Static Web App roles of someone with these claims: the admin role when the app registration
 * gave them that app role. Nothing else is passed on: the app knows no other role.
 */
export function rolesFromClaims(
  claims: ReadonlyArray<{ typ: string; val: string }>,
  adminRole: string | undefined,
): string[] {
  if (!adminRole) return [];
  return claims.some((c) => ROLE_CLAIMS.includes(c.typ) && c.val === adminRole) ? [adminRole] : [];
}

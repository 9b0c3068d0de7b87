import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KeyVaultSecrets, secretVaultName } from '../../shared/adapters/keyVaultSecrets.js';
import { isAppError } from '../../shared/errors.js';

interface Stored {
  value: string;
  version: string;
  tags: Record<string, string>;
  contentType?: string;
  updated: number;
}

/**
 * A stand-in for Azure Key Vault's secrets REST API (7.x): the challenge that starts
 * authentication, set, get, paged list, soft delete, purge and recovery, with its error codes.
 * The adapter is driven through the real `@azure/keyvault-secrets` client, so what is tested is
 * what goes over the wire to a vault.
 */
class FakeVault {
  readonly secrets = new Map<string, Stored>();
  readonly deleted = new Map<string, Stored>();
  readonly authorizations: string[] = [];
  /** Whether the vault refuses purges (purge protection). */
  purgeProtected = false;
  /** Answers every request with this status, when set (throttling, an outage, a missing role). */
  failWith: number | undefined;
  base = '';

  handle(request: IncomingMessage, response: ServerResponse, body: string): void {
    const url = new URL(request.url ?? '/', this.base);
    const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(payload === undefined ? '' : JSON.stringify(payload));
    };
    const error = (status: number, code: string) => send(status, { error: { code, message: code } });
    if (!request.headers.authorization) {
      // Key Vault's challenge: where to get a token, and for what resource.
      send(401, undefined, {
        'www-authenticate':
          'Bearer authorization="https://login.microsoftonline.com/tenant-1", resource="https://vault.azure.net"',
      });
      return;
    }
    this.authorizations.push(request.headers.authorization);
    if (this.failWith) return error(this.failWith, this.failWith === 403 ? 'Forbidden' : 'Throttled');
    const parts = url.pathname.split('/').filter(Boolean);
    const [collection, name, action] = parts;
    const bundle = (secretName: string, secret: Stored, withValue: boolean) => ({
      ...(withValue ? { value: secret.value } : {}),
      id: `${this.base}/secrets/${secretName}/${secret.version}`,
      attributes: {
        enabled: true,
        created: secret.updated,
        updated: secret.updated,
        recoveryLevel: 'Recoverable',
      },
      tags: secret.tags,
      ...(secret.contentType ? { contentType: secret.contentType } : {}),
    });
    if (collection === 'secrets' && name && request.method === 'PUT') {
      if (this.deleted.has(name)) return error(409, 'ObjectIsDeletedButRecoverable');
      const input = JSON.parse(body) as {
        value: string;
        tags?: Record<string, string>;
        contentType?: string;
      };
      const secret: Stored = {
        value: input.value,
        version: randomUUID().replace(/-/g, ''),
        tags: input.tags ?? {},
        ...(input.contentType ? { contentType: input.contentType } : {}),
        updated: Math.floor(Date.now() / 1000),
      };
      this.secrets.set(name, secret);
      return send(200, bundle(name, secret, true));
    }
    if (collection === 'secrets' && name && request.method === 'GET') {
      const secret = this.secrets.get(name);
      return secret ? send(200, bundle(name, secret, true)) : error(404, 'SecretNotFound');
    }
    if (collection === 'secrets' && !name && request.method === 'GET') {
      // Two a page, so the adapter must follow nextLink.
      const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
      const all = [...this.secrets.entries()];
      const page = all.slice(skip, skip + 2).map(([secretName, secret]) => bundle(secretName, secret, false));
      const next =
        skip + 2 < all.length ? `${this.base}/secrets?$skiptoken=${skip + 2}&api-version=7.6` : null;
      return send(200, { value: page, nextLink: next });
    }
    if (collection === 'secrets' && name && request.method === 'DELETE') {
      const secret = this.secrets.get(name);
      if (!secret) return error(404, 'SecretNotFound');
      this.secrets.delete(name);
      this.deleted.set(name, secret);
      return send(200, { ...bundle(name, secret, false), recoveryId: `${this.base}/deletedsecrets/${name}` });
    }
    if (collection === 'deletedsecrets' && name && !action && request.method === 'GET') {
      const secret = this.deleted.get(name);
      return secret ? send(200, bundle(name, secret, false)) : error(404, 'SecretNotFound');
    }
    if (collection === 'deletedsecrets' && name && request.method === 'DELETE') {
      if (this.purgeProtected) return error(403, 'Forbidden');
      return this.deleted.delete(name) ? send(204) : error(404, 'SecretNotFound');
    }
    if (collection === 'deletedsecrets' && name && action === 'recover' && request.method === 'POST') {
      const secret = this.deleted.get(name);
      if (!secret) return error(404, 'SecretNotFound');
      this.deleted.delete(name);
      this.secrets.set(name, secret);
      return send(200, bundle(name, secret, false));
    }
    error(400, 'BadParameter');
  }
}

describe('owners’ secrets in Azure Key Vault', () => {
  let server: Server;
  const vault = new FakeVault();
  let secrets: KeyVaultSecrets;
  const scopes: string[] = [];
  const rejectUnauthorized = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  const credential: TokenCredential = {
    getToken: (scope): Promise<AccessToken> => {
      scopes.push(...(Array.isArray(scope) ? scope : [scope]));
      return Promise.resolve({ token: 'entra-token-for-vault', expiresOnTimestamp: Date.now() + 3_600_000 });
    },
  };

  beforeAll(async () => {
    // Bearer tokens go only over https, so the stand-in serves https.
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    server = createServer({ key: pems.private, cert: pems.cert }, (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => vault.handle(request, response, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    vault.base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    secrets = new KeyVaultSecrets({
      url: vault.base,
      credential,
      // The challenge names vault.azure.net; this vault is on 127.0.0.1.
      clientOptions: { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } },
    });
  });

  afterAll(async () => {
    if (rejectUnauthorized === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = rejectUnauthorized;
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    vault.secrets.clear();
    vault.deleted.clear();
    vault.purgeProtected = false;
    vault.failWith = undefined;
  });

  it('should keep each owner’s secrets under names of their own, tagged with the owner', async () => {
    const info = await secrets.set('alice@example.com', 'db-password', 'alice-value');
    expect(info.name).toBe('db-password');
    expect(Date.parse(info.updatedAt)).toBeGreaterThan(Date.now() - 60_000);
    await secrets.set('bob', 'db-password', 'bob-value');
    await secrets.set('alice@example.com', 'api-key', 'alice-key');

    // Vault names allow letters, digits and hyphens: the owner is a digest, the tag says who.
    const stored = [...vault.secrets.keys()];
    expect(stored).toHaveLength(3);
    for (const name of stored) expect(name).toMatch(/^cj-[0-9a-f]{32}-[a-z0-9-]+$/);
    expect(vault.secrets.get(secretVaultName('alice@example.com', 'db-password'))).toMatchObject({
      value: 'alice-value',
      tags: { 'cloudjobs-owner': 'alice@example.com' },
    });
    expect(scopes).toContain('https://vault.azure.net/.default');
    expect(vault.authorizations.every((header) => header === 'Bearer entra-token-for-vault')).toBe(true);

    // Listed across pages, the owner's only, without values.
    expect((await secrets.list('alice@example.com')).map((s) => s.name).sort()).toEqual([
      'api-key',
      'db-password',
    ]);
    expect(await secrets.list('carol')).toEqual([]);
    const values = await secrets.values('alice@example.com', ['db-password', 'api-key', 'missing']);
    expect(Object.fromEntries(values)).toEqual({ 'db-password': 'alice-value', 'api-key': 'alice-key' });
    expect(Object.fromEntries(await secrets.values('bob', ['db-password', 'api-key']))).toEqual({
      'db-password': 'bob-value',
    });
  });

  it('should not take a secret whose tag names another owner as the caller’s', async () => {
    await secrets.set('alice', 'token', 'alice-token');
    // As if two owners' digests met: the tag still tells them apart.
    vault.secrets.get(secretVaultName('alice', 'token'))!.tags['cloudjobs-owner'] = 'mallory';
    expect((await secrets.values('alice', ['token'])).size).toBe(0);
    expect(await secrets.list('alice')).toEqual([]);
  });

  it('should delete and purge, so the name can be set again at once', async () => {
    await secrets.set('alice', 'token', 'first');
    expect(await secrets.remove('alice', 'token')).toBe(true);
    expect(vault.deleted.size).toBe(0);
    expect(await secrets.remove('alice', 'token')).toBe(false);
    await secrets.set('alice', 'token', 'second');
    expect(Object.fromEntries(await secrets.values('alice', ['token']))).toEqual({ token: 'second' });
  });

  it('should recover and overwrite a deleted secret the vault would not purge', async () => {
    vault.purgeProtected = true;
    await secrets.set('alice', 'token', 'first');
    expect(await secrets.remove('alice', 'token')).toBe(true);
    expect(vault.deleted.size).toBe(1);
    expect((await secrets.values('alice', ['token'])).size).toBe(0);
    await secrets.set('alice', 'token', 'second');
    expect(vault.deleted.size).toBe(0);
    expect(Object.fromEntries(await secrets.values('alice', ['token']))).toEqual({ token: 'second' });
  });

  it.each([
    [403, 'SECRETS_FORBIDDEN', 'none'],
    [429, 'SECRETS_UNAVAILABLE', 'backoff'],
    [503, 'SECRETS_UNAVAILABLE', 'backoff'],
  ])('should say what a %i from the vault means', async (status, code, retry) => {
    vault.failWith = status;
    const failure: unknown = await secrets.values('alice', ['token']).catch((error: unknown) => error);
    expect(isAppError(failure) && { code: failure.code, retry: failure.retry }).toEqual({ code, retry });
    // Nothing of the request is in what the caller is told.
    expect(String((failure as Error).message)).not.toContain('token');
  });
});

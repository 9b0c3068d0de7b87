import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FileSecrets } from '../../../shared/adapters/fileSecrets.js';
import { MAX_SECRETS_PER_OWNER, Secrets } from '../../../shared/jobs/secrets.js';
import { isAppError } from '../../../shared/errors.js';
import type { Caller } from '../../../shared/identity.js';

const dir = mkdtempSync(join(tmpdir(), 'cloudjobs-file-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const alice: Caller = { owner: 'alice', admin: false, via: 'token' };

describe('secrets in a file (the embedded runtime’s vault)', () => {
  let path: string;
  let vault: FileSecrets;
  beforeEach(() => {
    path = join(dir, `s${++files}`, 'secrets.json');
    mkdirSync(join(dir, `s${files}`));
    vault = new FileSecrets(path, () => new Date('2026-12-07T10:00:00Z'));
  });

  it('should answer nothing before the file exists, and make it readable by its user alone', async () => {
    expect(await vault.list('alice')).toEqual([]);
    expect((await vault.values('alice', ['a'])).size).toBe(0);
    await vault.set('alice', 'a', 'value-a');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await vault.list('alice')).toEqual([{ name: 'a', updatedAt: '2026-12-07T10:00:00.000Z' }]);
  });

  it('should make every one of many changes at once, none lost to another', async () => {
    await Promise.all(
      Array.from({ length: 25 }, (_, i) => vault.set(i % 2 ? 'bob' : 'alice', `s${i}`, `v${i}`)),
    );
    expect(await vault.list('alice')).toHaveLength(13);
    expect(await vault.list('bob')).toHaveLength(12);
    const removed = await Promise.all([vault.remove('alice', 's0'), vault.remove('alice', 's0')]);
    expect(removed.sort()).toEqual([false, true]);
  });

  it('should take secrets written by hand, and tighten a file others could read', async () => {
    writeFileSync(path, JSON.stringify({ owners: { alice: { 'db-password': 'by-hand' } } }));
    chmodSync(path, 0o644);
    expect(Object.fromEntries(await vault.values('alice', ['db-password']))).toEqual({
      'db-password': 'by-hand',
    });
    expect(statSync(path).mode & 0o077).toBe(0);
  });

  it('should refuse a broken file without repeating what is in it', async () => {
    writeFileSync(path, '{"owners": {"alice": {"a": "leaked-value"}');
    const broken: unknown = await vault.values('alice', ['a']).catch((error: unknown) => error);
    expect(isAppError(broken) && broken.code).toBe('SECRETS_FILE_INVALID');
    writeFileSync(path, JSON.stringify({ owners: { alice: { a: 42, b: 'leaked-value' } } }));
    const wrong: unknown = await vault.values('alice', ['a']).catch((error: unknown) => error);
    expect((wrong as Error).message).toContain('owners.alice.a');
    expect((wrong as Error).message).not.toContain('leaked-value');
    // Nothing is written over a file that cannot be read.
    await expect(vault.set('alice', 'c', 'x')).rejects.toThrow(/not usable/);
    expect(readFileSync(path, 'utf8')).toContain('leaked-value');
  });

  it('should keep an owner whose name is "__proto__" in a folder like any other', async () => {
    await vault.set('__proto__', 'a', 'x');
    expect(Object.fromEntries(await vault.values('__proto__', ['a']))).toEqual({ a: 'x' });
    expect(await vault.list('alice')).toEqual([]);
    expect(({} as Record<string, unknown>).a).toBeUndefined();
  });

  it('should cap how many secrets one owner keeps, still letting one be replaced', async () => {
    const secrets = new Secrets(vault);
    for (let i = 0; i < MAX_SECRETS_PER_OWNER; i++) await vault.set('alice', `s${i}`, 'x');
    const refused: unknown = await secrets
      .put(alice, { name: 'one-more' }, { value: 'x' })
      .catch((error: unknown) => error);
    expect(isAppError(refused) && refused.code).toBe('TOO_MANY_SECRETS');
    await expect(secrets.put(alice, { name: 's0' }, { value: 'y' })).resolves.toMatchObject({ name: 's0' });
  });

  it('should refuse every use where the deployment keeps no secrets', async () => {
    const none = new Secrets(undefined);
    const listing: unknown = await none.list(alice).catch((error: unknown) => error);
    expect(isAppError(listing) && [listing.code, listing.status]).toEqual(['SECRETS_NOT_CONFIGURED', 501]);
    const check: unknown = await none
      .check('alice', [{ name: 'a', path: 'env.A' }])
      .catch((error: unknown) => error);
    expect(isAppError(check) && check.code).toBe('SECRETS_NOT_CONFIGURED');
    await expect(none.check('alice', [])).resolves.toBeUndefined();
  });
});

import { createHash } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { DependencyError, TransientError } from '../errors.js';
import type { SecretInfo, SecretVault } from '../jobs/secrets.js';

/** The tag naming a secret's owner in full: the vault name carries only a digest of it. */
const OWNER_TAG = 'cloudjobs-owner';

export interface KeyVaultSecretsOptions {
  /** `https://<vault>.vault.azure.net`. */
  url: string;
  credential: TokenCredential;
  /** For tests against a vault of their own making. */
  clientOptions?: SecretClientOptions;
}

/**
 * Owners' secrets in an Azure Key Vault of their own (not the one holding the app's settings):
 * each owner's are named `cj-<digest of the owner>-<name>`, since vault names allow only letters,
 * digits and hyphens, and tagged with the owner, checked on every read. Deleting purges, so a name
 * can be set again at once; where the vault refuses to purge (purge protection), a later set
 * recovers the deleted secret and overwrites it.
 */
export class KeyVaultSecrets implements SecretVault {
  readonly #client: SecretClient;

  constructor(options: KeyVaultSecretsOptions) {
    this.#client = new SecretClient(options.url, options.credential, options.clientOptions);
  }

  async set(owner: string, name: string, value: string): Promise<SecretInfo> {
    const vaultName = secretVaultName(owner, name);
    const write = () =>
      this.#client.setSecret(vaultName, value, {
        tags: { [OWNER_TAG]: ownerTag(owner) },
        contentType: 'text/plain',
      });
    try {
      const secret = await write().catch(async (error: unknown) => {
        if (!isDeletedButRecoverable(error)) throw error;
        const recovery = await this.#client.beginRecoverDeletedSecret(vaultName, { intervalInMs: 500 });
        await recovery.pollUntilDone();
        return write();
      });
      return { name, updatedAt: (secret.properties.updatedOn ?? new Date()).toISOString() };
    } catch (error) {
      throw vaultError(error);
    }
  }

  async list(owner: string): Promise<SecretInfo[]> {
    const prefix = ownerPrefix(owner);
    const secrets: SecretInfo[] = [];
    try {
      // The vault has no listing by prefix: every owner's secrets are read, and only names kept.
      for await (const properties of this.#client.listPropertiesOfSecrets()) {
        if (!properties.name.startsWith(prefix) || properties.tags?.[OWNER_TAG] !== ownerTag(owner)) continue;
        secrets.push({
          name: properties.name.slice(prefix.length),
          updatedAt: (properties.updatedOn ?? properties.createdOn ?? new Date(0)).toISOString(),
        });
      }
    } catch (error) {
      throw vaultError(error);
    }
    return secrets;
  }

  async values(owner: string, names: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    await Promise.all(
      [...new Set(names)].map(async (name) => {
        try {
          const secret = await this.#client.getSecret(secretVaultName(owner, name));
          if (secret.value !== undefined && secret.properties.tags?.[OWNER_TAG] === ownerTag(owner)) {
            found.set(name, secret.value);
          }
        } catch (error) {
          if (statusOf(error) !== 404) throw vaultError(error);
        }
      }),
    );
    return found;
  }

  async remove(owner: string, name: string): Promise<boolean> {
    const vaultName = secretVaultName(owner, name);
    try {
      const poller = await this.#client.beginDeleteSecret(vaultName, { intervalInMs: 500 });
      await poller.pollUntilDone();
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw vaultError(error);
    }
    // Soft deletion keeps the name taken; purge frees it. A vault that forbids purging keeps it,
    // and `set` recovers it then.
    await this.#client.purgeDeletedSecret(vaultName).catch(() => undefined);
    return true;
  }
}

/** The vault's name for an owner's secret. */
export function secretVaultName(owner: string, name: string): string {
  return `${ownerPrefix(owner)}${name}`;
}

function ownerPrefix(owner: string): string {
  return `cj-${createHash('sha256').update(owner).digest('hex').slice(0, 32)}-`;
}

/** Tag values are at most 256 characters: a longer owner is tagged by its digest. */
function ownerTag(owner: string): string {
  return owner.length <= 256 ? owner : `sha256:${createHash('sha256').update(owner).digest('hex')}`;
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function isDeletedButRecoverable(error: unknown): boolean {
  return statusOf(error) === 409 && (error as { code?: unknown }).code === 'ObjectIsDeletedButRecoverable';
}

/** What a vault failure means to a caller: try again later, or the deployment is wrong. */
function vaultError(error: unknown): Error {
  const status = statusOf(error);
  if (status === 401 || status === 403) {
    return new DependencyError(
      'SECRETS_FORBIDDEN',
      'the app may not use its secrets vault (it needs the Key Vault Secrets Officer role on it)',
      { cause: error },
    );
  }
  if (status === undefined || status === 429 || status >= 500) {
    return new TransientError('SECRETS_UNAVAILABLE', 'the secrets vault is not answering; try again', {
      cause: error,
    });
  }
  return error instanceof Error ? error : new Error(String(error));
}

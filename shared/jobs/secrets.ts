import { z } from 'zod';
import { AppError, NotFoundError, ValidationError } from '../errors.js';
import type { Caller } from '../identity.js';
import { parseInput } from '../domain/issues.js';
import { secretNameSchema } from '../domain/jobSpec.js';
import type { PlannedTask } from '../domain/batchPlan.js';
import type { ComputeTaskSpec } from '../compute/compute.js';

/**
 * The longest secret value: under Azure Key Vault's 25 KB, and more than any token, key or
 * certificate chain a task's environment should carry.
 */
export const MAX_SECRET_BYTES = 16 * 1024;

/** How many secrets one owner may keep. */
export const MAX_SECRETS_PER_OWNER = 200;

/** Body of `PUT /secrets/{name}`. */
export const putSecretBodySchema = z.strictObject({
  value: z
    .string()
    .min(1, 'must not be empty')
    .refine((value) => Buffer.byteLength(value) <= MAX_SECRET_BYTES, {
      message: `must be at most ${MAX_SECRET_BYTES} bytes`,
    })
    .describe('the secret; it is never shown again'),
});

/** Path parameter of `/secrets/{name}`. */
export const secretPathSchema = z.strictObject({ name: secretNameSchema });

/** One of an owner's secrets as it is shown: never its value. */
export interface SecretInfo {
  name: string;
  /** When it was last set (ISO 8601). */
  updatedAt: string;
}

/**
 * Where owners' secrets are kept (Azure Key Vault, or a file on one machine). Each owner has a
 * namespace of their own: a name means that owner's secret and no one else's.
 */
export interface SecretVault {
  /** Stores or replaces a secret; answers when it was set. */
  set(owner: string, name: string, value: string): Promise<SecretInfo>;
  /** The owner's secrets, by name, without values. */
  list(owner: string): Promise<SecretInfo[]>;
  /** The values of those of `names` the owner has; the others are absent. */
  values(owner: string, names: readonly string[]): Promise<Map<string, string>>;
  /** Removes a secret; false if the owner had none by that name. */
  remove(owner: string, name: string): Promise<boolean>;
}

/** A secret a job names that its owner does not have (or no longer has). */
export class SecretNotFoundError extends AppError {
  constructor(message: string) {
    super('SECRET_NOT_FOUND', message, 404, 'none');
  }
}

/** Refuses secrets where the deployment has nowhere to keep them. */
function notConfigured(): AppError {
  return new AppError(
    'SECRETS_NOT_CONFIGURED',
    'this deployment keeps no secrets (set CLOUDJOBS_KEY_VAULT_URL, or CLOUDJOBS_SECRETS_FILE on one machine)',
    501,
    'none',
  );
}

/**
 * Owners' secrets: set, listed and removed through the API (values are write-only), checked when a
 * job naming them is submitted, and read only when that job's tasks go to Batch.
 */
export class Secrets {
  readonly #vault: SecretVault | undefined;

  /** `vault` is undefined when the deployment keeps no secrets: then every use is refused. */
  constructor(vault: SecretVault | undefined) {
    this.#vault = vault;
  }

  get #store(): SecretVault {
    if (!this.#vault) throw notConfigured();
    return this.#vault;
  }

  /** `PUT /secrets/{name}`. */
  async put(caller: Caller, params: unknown, body: unknown): Promise<SecretInfo> {
    const { name } = parseInput(secretPathSchema, params);
    const { value } = parseInput(putSecretBodySchema, body);
    const vault = this.#store;
    const existing = await vault.list(caller.owner);
    if (existing.length >= MAX_SECRETS_PER_OWNER && !existing.some((secret) => secret.name === name)) {
      throw new ValidationError(
        `you have ${existing.length} secrets, the most one owner may keep; delete one first`,
        [{ path: 'name', message: `would be secret number ${existing.length + 1}` }],
        'TOO_MANY_SECRETS',
      );
    }
    return vault.set(caller.owner, name, value);
  }

  /** `GET /secrets`: names and times, sorted by name. */
  async list(caller: Caller): Promise<SecretInfo[]> {
    const secrets = await this.#store.list(caller.owner);
    return secrets.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** `DELETE /secrets/{name}`. */
  async remove(caller: Caller, params: unknown): Promise<void> {
    const { name } = parseInput(secretPathSchema, params);
    if (!(await this.#store.remove(caller.owner, name))) {
      throw new NotFoundError(`you have no secret "${name}"`, 'SECRET_NOT_FOUND');
    }
  }

  /**
   * Refuses a job whose env names a secret its owner does not have, at the field naming it, before
   * anything is stored. The values are read and dropped: a vault tells existence by reading.
   */
  async check(owner: string, named: ReadonlyArray<{ name: string; path: string }>): Promise<void> {
    if (named.length === 0) return;
    if (!this.#vault) {
      throw new ValidationError(
        'this deployment keeps no secrets',
        named.map(({ path }) => ({ path, message: 'names a secret, and this deployment keeps none' })),
        'SECRETS_NOT_CONFIGURED',
      );
    }
    const found = await this.#vault.values(
      owner,
      named.map(({ name }) => name),
    );
    const missing = named.filter(({ name }) => !found.has(name));
    if (missing.length > 0) {
      throw new ValidationError(
        `the job names ${missing.length === 1 ? 'a secret' : 'secrets'} you do not have`,
        missing.map(({ name, path }) => ({
          path: `${path}.secretRef`,
          message: `you have no secret "${name}": set it first (cloudjobs secrets set ${name}, or PUT /api/secrets/${name})`,
        })),
        'SECRET_NOT_FOUND',
      );
    }
  }

  /**
   * The tasks as Batch is to get them: each secret variable given its value, read now (so a
   * secret changed since submission is the new value). Tasks naming a secret the owner no longer
   * has are answered apart, to fail the job rather than run without it.
   */
  async resolve(
    owner: string,
    tasks: readonly PlannedTask[],
  ): Promise<{
    tasks: ComputeTaskSpec[];
    missing: Array<{ taskId: string; code: string; message: string }>;
  }> {
    const names = new Set<string>();
    for (const task of tasks) {
      for (const name of Object.values(task.secretEnvironment ?? {})) names.add(name);
    }
    if (names.size === 0) return { tasks: tasks as ComputeTaskSpec[], missing: [] };
    const values = this.#vault ? await this.#vault.values(owner, [...names]) : new Map<string, string>();
    const ready: ComputeTaskSpec[] = [];
    const missing: Array<{ taskId: string; code: string; message: string }> = [];
    for (const { secretEnvironment, ...task } of tasks) {
      if (!secretEnvironment) {
        ready.push(task);
        continue;
      }
      const environment = { ...task.environment };
      const gone: string[] = [];
      for (const [variable, name] of Object.entries(secretEnvironment)) {
        const value = values.get(name);
        if (value === undefined) gone.push(`${variable} (secret "${name}")`);
        else environment[variable] = value;
      }
      if (gone.length > 0) {
        missing.push({
          taskId: task.id,
          code: 'SECRET_NOT_FOUND',
          message: `the owner has no secret for ${gone.join(', ')} any more`,
        });
      } else {
        ready.push({ ...task, environment });
      }
    }
    return { tasks: ready, missing };
  }
}

/** The secrets of a deployment that keeps none: every job naming one is refused. */
export const NO_SECRETS = new Secrets(undefined);

import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { SecretInfo, SecretVault } from '../jobs/secrets.js';

/**
 * The file's shape: owners, each with secrets by name. A person may write a secret as plain text;
 * the app writes it with the time it was set.
 */
const fileSchema = z.strictObject({
  owners: z.record(
    z.string(),
    z.record(
      z.string(),
      z.union([z.string(), z.strictObject({ value: z.string(), updatedAt: z.string().datetime() })]),
    ),
  ),
});

type SecretsFile = z.infer<typeof fileSchema>;

/**
 * Owners' secrets in one JSON file, readable by its user alone: the stand-in for Key Vault on one
 * machine (the embedded runtime keeps it in its state directory). It is read on every use, so an
 * edit by hand counts at once, and replaced whole on every change, so a crash leaves the old file
 * or the new one. One process writes it: changes are made one at a time.
 */
export class FileSecrets implements SecretVault {
  readonly #path: string;
  readonly #now: () => Date;
  #writing: Promise<unknown> = Promise.resolve();

  constructor(path: string, now: () => Date = () => new Date()) {
    this.#path = path;
    this.#now = now;
  }

  async set(owner: string, name: string, value: string): Promise<SecretInfo> {
    const updatedAt = this.#now().toISOString();
    await this.#change((file) => {
      if (!Object.hasOwn(file.owners, owner)) {
        // Defined, not assigned: an owner named "__proto__" must get a folder, not a prototype.
        Object.defineProperty(file.owners, owner, {
          value: {},
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      file.owners[owner]![name] = { value, updatedAt };
      return true;
    });
    return { name, updatedAt };
  }

  async list(owner: string): Promise<SecretInfo[]> {
    const secrets = ownerSecrets(await this.#read(), owner) ?? {};
    return Object.entries(secrets).map(([name, secret]) => ({
      name,
      updatedAt: typeof secret === 'string' ? new Date(0).toISOString() : secret.updatedAt,
    }));
  }

  async values(owner: string, names: readonly string[]): Promise<Map<string, string>> {
    const secrets = ownerSecrets(await this.#read(), owner) ?? {};
    const found = new Map<string, string>();
    for (const name of names) {
      const secret = Object.hasOwn(secrets, name) ? secrets[name] : undefined;
      if (secret !== undefined) found.set(name, typeof secret === 'string' ? secret : secret.value);
    }
    return found;
  }

  remove(owner: string, name: string): Promise<boolean> {
    return this.#change((file) => {
      const secrets = ownerSecrets(file, owner);
      if (!secrets || !Object.hasOwn(secrets, name)) return false;
      delete secrets[name];
      if (Object.keys(secrets).length === 0) delete file.owners[owner];
      return true;
    });
  }

  /** Applies `edit` to the file and writes it back if it changed anything, one change at a time. */
  #change(edit: (file: SecretsFile) => boolean): Promise<boolean> {
    const next = this.#writing.then(async () => {
      const file = await this.#read();
      if (!edit(file)) return false;
      await mkdir(dirname(this.#path), { recursive: true, mode: 0o700 });
      const temporary = `${this.#path}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
      await rename(temporary, this.#path);
      return true;
    });
    this.#writing = next.catch(() => undefined);
    return next;
  }

  async #read(): Promise<SecretsFile> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { owners: {} };
      throw error;
    }
    // A file written by hand with others' read access is the one place a value could leak here.
    await chmod(this.#path, 0o600).catch(() => undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw badFile(this.#path, 'it is not JSON');
    }
    const result = fileSchema.safeParse(parsed);
    if (!result.success) {
      // Paths only: an issue's message could quote what is there, and what is there is secret.
      const where = result.error.issues.map((issue) => issue.path.join('.') || '(top)').join(', ');
      throw badFile(this.#path, `expected {"owners": {"<owner>": {"<name>": "<value>"}}}; wrong at ${where}`);
    }
    // The parsed text, not zod's copy: a copy assigns keys, and an owner "__proto__" would vanish.
    return parsed as SecretsFile;
  }
}

function ownerSecrets(file: SecretsFile, owner: string): SecretsFile['owners'][string] | undefined {
  return Object.hasOwn(file.owners, owner) ? file.owners[owner] : undefined;
}

function badFile(path: string, why: string): AppError {
  return new AppError('SECRETS_FILE_INVALID', `the secrets file ${path} is not usable: ${why}`, 500, 'none');
}

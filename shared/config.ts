import { z } from 'zod';

/**
 * Every setting the app reads, declared once: the environment key, its schema and default.
 * `loadConfig` validates them all at start and names every missing or bad key in one error.
 */
export const CONFIG_KEYS = {
  storage: 'AzureWebJobsStorage',
} as const;

const configSchema = z.object({
  [CONFIG_KEYS.storage]: z
    .string({ error: 'is required: the storage connection string (UseDevelopmentStorage=true locally)' })
    .min(1, 'is required: the storage connection string (UseDevelopmentStorage=true locally)'),
});

/** The app's configuration, read from the environment. */
export interface AppConfig {
  /** Connection string of the storage account that holds the job store and blobs. */
  storageConnectionString: string;
}

/** Thrown when the environment does not configure the app; lists every problem at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';

  constructor(readonly problems: string[]) {
    super(`cloudjobs is not configured correctly:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Reads and validates the configuration from `env` (the process environment by default). */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`));
  }
  return { storageConnectionString: parsed.data[CONFIG_KEYS.storage] };
}

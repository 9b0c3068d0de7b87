import { z } from 'zod';

/**
 * Every setting the app reads, declared once: the environment key, its schema and default.
 * `loadConfig` validates them all at start and names every missing or bad key in one error.
 */
export const CONFIG_KEYS = {
  storage: 'AzureWebJobsStorage',
  batchAccountUrl: 'BATCH_ACCOUNT_URL',
  batchAccountName: 'BATCH_ACCOUNT_NAME',
  batchAccountKey: 'BATCH_ACCOUNT_KEY',
  batchSubmitConcurrency: 'BATCH_SUBMIT_CONCURRENCY',
} as const;

const required = (what: string) => z.string({ error: `is required: ${what}` }).min(1, `is required: ${what}`);

const configSchema = z
  .object({
    [CONFIG_KEYS.storage]: required('the storage connection string (UseDevelopmentStorage=true locally)'),
    [CONFIG_KEYS.batchAccountUrl]: required('the Azure Batch account URL').pipe(
      z.url({ error: 'must be a URL' }),
    ),
    [CONFIG_KEYS.batchAccountName]: z.string().min(1).optional(),
    [CONFIG_KEYS.batchAccountKey]: z.string().min(1).optional(),
    [CONFIG_KEYS.batchSubmitConcurrency]: z.coerce.number().int().min(1).max(64).default(16),
  })
  .refine((env) => !env[CONFIG_KEYS.batchAccountKey] || env[CONFIG_KEYS.batchAccountName], {
    message: 'is required when BATCH_ACCOUNT_KEY is set (shared key authentication needs the account name)',
    path: [CONFIG_KEYS.batchAccountName],
  });

/** The app's configuration, read from the environment. */
export interface AppConfig {
  /** Connection string of the storage account that holds the job store and blobs. */
  storageConnectionString: string;
  batch: {
    accountUrl: string;
    /** Shared key credentials; without them the app uses its managed identity (Microsoft Entra). */
    sharedKey?: { accountName: string; accountKey: string };
    submitConcurrency: number;
  };
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
  const values = parsed.data;
  const accountName = values[CONFIG_KEYS.batchAccountName];
  const accountKey = values[CONFIG_KEYS.batchAccountKey];
  return {
    storageConnectionString: values[CONFIG_KEYS.storage],
    batch: {
      accountUrl: values[CONFIG_KEYS.batchAccountUrl],
      ...(accountName && accountKey ? { sharedKey: { accountName, accountKey } } : {}),
      submitConcurrency: values[CONFIG_KEYS.batchSubmitConcurrency],
    },
  };
}

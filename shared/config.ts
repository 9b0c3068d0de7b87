import { z } from 'zod';
import { DEFAULT_LIMITS, MAX_JOB_MINUTES, type SpecLimits } from './domain/jobSpec.js';
import { DEFAULT_RETRY_SCHEDULE_SECONDS, parseRetrySchedule } from './domain/notifications.js';
import { parseApiTokens, type ApiToken, type IdentityMode } from './identity.js';
import { CONFIG_KEYS } from './configKeys.js';
import { presetsSchema, type Preset } from './domain/presets.js';

export {
  CONFIG_KEYS,
  DEPLOYMENT,
  SERVICE_BUS_CONNECTION,
  type ConfigKey,
  type DeploymentUse,
} from './configKeys.js';

const positiveInt = (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

const flag = z
  .enum(['true', 'false', 'True', 'False', ''], { error: 'must be true or false' })
  .optional()
  .transform((value) => value?.toLowerCase() === 'true');

/** What Azure Communication Services takes as a sender: an address and nothing else. */
const ACS_SENDER = /^[^\s@<>"]+@[^\s@<>"]+$/;

/** An optional setting: blank counts as unset, as the host and the portal leave empty values. */
const optionalText = z
  .string()
  .optional()
  .transform((value) => value?.trim() || undefined);

const serviceUri = optionalText.pipe(
  z
    .url({ protocol: /^https?$/, error: 'must be the service URL, https://<account>.<service>.core...' })
    .optional(),
);

const required = (what: string) => z.string({ error: `is required: ${what}` }).min(1, `is required: ${what}`);

const configSchema = z
  .object({
    [CONFIG_KEYS.storage]: optionalText,
    [CONFIG_KEYS.storageAccountName]: optionalText.pipe(
      z
        .string()
        .regex(/^[a-z0-9]{3,24}$/, 'must be a storage account name (3-24 lowercase letters and digits)')
        .optional(),
    ),
    [CONFIG_KEYS.storageBlobServiceUri]: serviceUri,
    [CONFIG_KEYS.storageQueueServiceUri]: serviceUri,
    [CONFIG_KEYS.storageTableServiceUri]: serviceUri,
    // The host takes this one value; anything else means the default credential chain.
    [CONFIG_KEYS.storageCredential]: optionalText.pipe(
      z.enum(['managedidentity'], { error: 'must be managedidentity, or unset' }).optional(),
    ),
    [CONFIG_KEYS.storageClientId]: optionalText.pipe(
      z.uuid({ error: 'must be the client id (a GUID) of a user-assigned identity' }).optional(),
    ),
    [CONFIG_KEYS.batchAccountUrl]: required('the Azure Batch account URL').pipe(
      z.url({ error: 'must be a URL' }),
    ),
    [CONFIG_KEYS.batchAccountName]: z.string().min(1).optional(),
    [CONFIG_KEYS.batchAccountKey]: z.string().min(1).optional(),
    [CONFIG_KEYS.batchSubmitConcurrency]: z.coerce.number().int().min(1).max(64).default(16),
    [CONFIG_KEYS.batchNodeIdentity]: optionalText.pipe(
      z
        .string()
        .regex(
          /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[^/]+$/i,
          'must be the resource id of a user-assigned identity (/subscriptions/.../userAssignedIdentities/<name>)',
        )
        .optional(),
    ),
    [CONFIG_KEYS.apiTokens]: z
      .string()
      .optional()
      .transform((value, context) => {
        if (!value?.trim()) return undefined;
        try {
          return parseApiTokens(value);
        } catch (error) {
          context.addIssue({ code: 'custom', message: (error as Error).message });
          return z.NEVER;
        }
      }),
    [CONFIG_KEYS.adminRole]: z.string().min(1).default('cloudjobs.admin'),
    // Set by App Service when its authentication is on; only then are its principal headers trusted.
    [CONFIG_KEYS.appServiceAuth]: z
      .string()
      .optional()
      .transform((value) => value?.toLowerCase() === 'true'),
    // Set by App Service on every app it runs, never on a developer's machine.
    [CONFIG_KEYS.siteName]: optionalText,
    [CONFIG_KEYS.defaultPool]: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a pool id')
      .default('default'),
    [CONFIG_KEYS.tablePrefix]: z
      .string()
      .regex(
        /^([a-z][a-z0-9]{0,19})?$/,
        'must be up to 20 lowercase letters and digits, starting with a letter',
      )
      .default(''),
    [CONFIG_KEYS.maxBodyBytes]: positiveInt(16 * 1024 * 1024),
    [CONFIG_KEYS.maxTasks]: positiveInt(DEFAULT_LIMITS.maxTasks, 1_000_000),
    [CONFIG_KEYS.maxCommandLength]: positiveInt(DEFAULT_LIMITS.maxCommandLength, 32_768),
    [CONFIG_KEYS.maxEnvBytes]: positiveInt(DEFAULT_LIMITS.maxEnvBytes),
    [CONFIG_KEYS.maxDependencyEdges]: positiveInt(DEFAULT_LIMITS.maxDependencyEdges),
    [CONFIG_KEYS.inboxSasMinutes]: positiveInt(15, 24 * 60),
    // A large file's blocks go up under one URL; an hour covers a gigabyte on a slow link.
    [CONFIG_KEYS.filesSasMinutes]: positiveInt(60, 24 * 60),
    [CONFIG_KEYS.blockedRetryInitialSeconds]: positiveInt(30, 3600),
    [CONFIG_KEYS.blockedRetryMaxSeconds]: positiveInt(600, 24 * 3600),
    // A day, unless a job says otherwise; 0 waits for ever.
    [CONFIG_KEYS.maxBlockedMinutes]: z.coerce
      .number()
      .int()
      .min(0)
      .max(MAX_JOB_MINUTES)
      .default(24 * 60),
    [CONFIG_KEYS.maxQueuedMinutes]: z.coerce
      .number()
      .int()
      .min(0)
      .max(MAX_JOB_MINUTES)
      .default(24 * 60),
    [CONFIG_KEYS.poolsFixed]: flag,
    [CONFIG_KEYS.maxRunningJobsPerUser]: z.coerce.number().int().min(0).max(100_000).default(0),
    // Fractions allowed (0.5 is twelve hours); 0 keeps ended jobs until someone deletes them.
    [CONFIG_KEYS.retentionDays]: z.coerce.number().min(0).max(36_500).default(0),
    [CONFIG_KEYS.chunksPerSubOrchestration]: positiveInt(1000, 100_000),
    [CONFIG_KEYS.streamHeartbeatSeconds]: positiveInt(15, 120),
    // Under the 230 s a front end waits on a request, and the host's function timeout.
    [CONFIG_KEYS.streamMaxSeconds]: positiveInt(210, 3600),
    [CONFIG_KEYS.streamPollMs]: z.coerce.number().int().min(100).max(60_000).default(1000),
    [CONFIG_KEYS.webhookAllowHttp]: flag,
    [CONFIG_KEYS.webhookAllowLoopback]: flag,
    [CONFIG_KEYS.webhookTimeoutSeconds]: positiveInt(10, 60),
    [CONFIG_KEYS.deliveryRetrySchedule]: z
      .string()
      .optional()
      .transform((value, context) => {
        if (!value?.trim()) return [...DEFAULT_RETRY_SCHEDULE_SECONDS];
        try {
          return parseRetrySchedule(value);
        } catch (error) {
          context.addIssue({ code: 'custom', message: (error as Error).message });
          return z.NEVER;
        }
      }),
    [CONFIG_KEYS.deliveryBackstopSeconds]: positiveInt(60, 3600),
    [CONFIG_KEYS.presets]: z
      .string()
      .optional()
      .transform((value, context) => {
        if (!value?.trim()) return [];
        let parsed: unknown;
        try {
          parsed = JSON.parse(value);
        } catch {
          context.addIssue({ code: 'custom', message: 'must be a JSON array of presets' });
          return z.NEVER;
        }
        const presets = presetsSchema.safeParse(parsed);
        if (presets.success) return presets.data;
        for (const issue of presets.error.issues) {
          const where = issue.path
            .map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`))
            .join('')
            .replace(/^\./, '');
          context.addIssue({ code: 'custom', message: `${where || 'the list'}: ${issue.message}` });
        }
        return z.NEVER;
      }),
    [CONFIG_KEYS.keyVaultUrl]: z
      .string()
      .optional()
      .transform((value) => value?.trim() || undefined)
      .pipe(z.url({ protocol: /^https$/, error: "must be the vault's https:// URL" }).optional()),
    [CONFIG_KEYS.secretsFile]: optionalText,
    [CONFIG_KEYS.smtpUrl]: z
      .string()
      .optional()
      .transform((value) => value?.trim() || undefined)
      .pipe(z.url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' }).optional()),
    [CONFIG_KEYS.acsEmailConnectionString]: z
      .string()
      .optional()
      .transform((value) => value?.trim() || undefined)
      .pipe(
        z
          // The shape the SDK parses, checked at start rather than at the first email; the message
          // never repeats the value, which holds the access key.
          .string()
          .regex(/^endpoint=https:\/\/[^/;]+\/?;accesskey=[^;]+$/i, {
            error: 'must be endpoint=https://<resource>.communication.azure.com/;accesskey=<key>',
          })
          .optional(),
      ),
    [CONFIG_KEYS.acsEmailEndpoint]: z
      .string()
      .optional()
      .transform((value) => value?.trim() || undefined)
      .pipe(
        z
          .url({ protocol: /^https$/, error: 'must be an https:// URL' })
          .refine(
            (url) => ['', '/'].includes(new URL(url).pathname),
            'must be the resource URL, with no path',
          )
          .optional(),
      ),
    [CONFIG_KEYS.emailFrom]: z
      .string()
      .optional()
      .transform((value) => value?.trim() || undefined),
    [CONFIG_KEYS.publicUrl]: z
      .string()
      .optional()
      .transform((value) => value?.trim().replace(/\/+$/, '') || undefined)
      .pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional()),
    [CONFIG_KEYS.appInsightsConnectionString]: optionalText.pipe(
      z
        .string()
        .regex(/(^|;)\s*InstrumentationKey=[^;]+/i, {
          error:
            'must be an Application Insights connection string (InstrumentationKey=...;IngestionEndpoint=...)',
        })
        .optional(),
    ),
    // The host's spelling: the system-assigned identity, or a user-assigned one by client id.
    [CONFIG_KEYS.appInsightsAuthentication]: optionalText.pipe(
      z
        .string()
        .regex(/^(ClientId=[0-9a-f-]{36};)?Authorization=AAD$/i, {
          error: 'must be Authorization=AAD, or ClientId=<client id>;Authorization=AAD',
        })
        .optional(),
    ),
    [CONFIG_KEYS.inputContainers]: z
      .string()
      .optional()
      .transform((value) =>
        (value ?? '')
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean),
      )
      .pipe(
        z.array(
          z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'must be a list of container names'),
        ),
      ),
  })
  .superRefine(
    (env, context) => {
      const identityKeys = [
        CONFIG_KEYS.storageAccountName,
        CONFIG_KEYS.storageBlobServiceUri,
        CONFIG_KEYS.storageTableServiceUri,
      ].filter((key) => env[key] !== undefined);
      if (env[CONFIG_KEYS.storage] !== undefined && identityKeys.length > 0) {
        context.addIssue({
          code: 'custom',
          path: [CONFIG_KEYS.storage],
          message: `is set and so is ${identityKeys.join(' and ')}: connect with a connection string or with the app's identity, not both`,
        });
      } else if (env[CONFIG_KEYS.storage] === undefined && identityKeys.length === 0) {
        context.addIssue({
          code: 'custom',
          path: [CONFIG_KEYS.storage],
          message: `is required: the storage connection string (UseDevelopmentStorage=true locally), or ${CONFIG_KEYS.storageAccountName} (or ${CONFIG_KEYS.storageBlobServiceUri} and ${CONFIG_KEYS.storageTableServiceUri}) to connect with the app's identity`,
        });
      } else if (env[CONFIG_KEYS.storageAccountName] === undefined && identityKeys.length === 1) {
        const missing =
          env[CONFIG_KEYS.storageBlobServiceUri] === undefined
            ? CONFIG_KEYS.storageBlobServiceUri
            : CONFIG_KEYS.storageTableServiceUri;
        context.addIssue({
          code: 'custom',
          path: [missing],
          message: `is required with ${identityKeys[0]} (the app uses both services), or set ${CONFIG_KEYS.storageAccountName}`,
        });
      }
      // On Azure, single-user mode would make everyone on the internet the owner `local`.
      if (
        env[CONFIG_KEYS.siteName] !== undefined &&
        !env[CONFIG_KEYS.appServiceAuth] &&
        env[CONFIG_KEYS.apiTokens] === undefined
      ) {
        context.addIssue({
          code: 'custom',
          path: [CONFIG_KEYS.apiTokens],
          message: `is required on Azure (${CONFIG_KEYS.siteName} is set) unless App Service authentication is on: without either, anyone who reaches the app would act as the single local user`,
        });
      }
      // Runs even when other keys are bad, so a missing storage setting is named with the rest.
    },
    { when: () => true },
  )
  .refine((env) => !env[CONFIG_KEYS.batchAccountKey] || env[CONFIG_KEYS.batchAccountName], {
    message: 'is required when BATCH_ACCOUNT_KEY is set (shared key authentication needs the account name)',
    path: [CONFIG_KEYS.batchAccountName],
  })
  .refine((env) => !(env[CONFIG_KEYS.keyVaultUrl] && env[CONFIG_KEYS.secretsFile]), {
    message: `and ${CONFIG_KEYS.keyVaultUrl} are both set: secrets are kept in one place, pick one`,
    path: [CONFIG_KEYS.secretsFile],
  })
  .superRefine((env, context) => {
    const acsKeys = [CONFIG_KEYS.acsEmailConnectionString, CONFIG_KEYS.acsEmailEndpoint].filter(
      (key) => env[key] !== undefined,
    );
    if (acsKeys.length === 0) return;
    if (acsKeys.length > 1) {
      context.addIssue({
        code: 'custom',
        path: [CONFIG_KEYS.acsEmailConnectionString],
        message: `and ${CONFIG_KEYS.acsEmailEndpoint} are both set: pick one (the connection string signs with the access key, the endpoint alone uses the app's managed identity)`,
      });
    }
    if (env[CONFIG_KEYS.smtpUrl] !== undefined) {
      context.addIssue({
        code: 'custom',
        path: [CONFIG_KEYS.smtpUrl],
        message: `is set and so is ${acsKeys.join(' and ')}: email goes through SMTP or Azure Communication Services, pick one`,
      });
    }
    const from = env[CONFIG_KEYS.emailFrom];
    if (from === undefined) {
      context.addIssue({
        code: 'custom',
        path: [CONFIG_KEYS.emailFrom],
        message: `is required with ${acsKeys[0]}: the sender address of a domain verified in Azure Communication Services (e.g. DoNotReply@<domain>)`,
      });
    } else if (!ACS_SENDER.test(from)) {
      // ACS takes the bare address; the display name is the sender's MailFrom setting in Azure.
      context.addIssue({
        code: 'custom',
        path: [CONFIG_KEYS.emailFrom],
        message: `must be a bare address (DoNotReply@<domain>, no display name) with ${acsKeys[0]}`,
      });
    }
  });

/** Azure Communication Services' email API: signed with the access key, or with the app's identity. */
export type AcsEmailConfig = { from: string } & ({ connectionString: string } | { endpoint: string });

/**
 * How the app reaches the storage account that holds the job store and blobs: with a connection
 * string (a shared key, or Azurite locally), or with the app's Microsoft Entra identity, as the
 * Functions host does with `AzureWebJobsStorage__*` settings.
 */
export type StorageConnection =
  | { kind: 'connectionString'; connectionString: string }
  | {
      kind: 'identity';
      blobServiceUri: string;
      tableServiceUri: string;
      /** `managedidentity`: only the managed identity, never a developer's sign-in. */
      credential?: 'managedidentity';
      /** A user-assigned identity's client id; the system-assigned one when absent. */
      clientId?: string;
    };

/** The app's configuration, read from the environment. */
export interface AppConfig {
  storage: StorageConnection;
  batch: {
    accountUrl: string;
    /** Shared key credentials; without them the app uses its managed identity (Microsoft Entra). */
    sharedKey?: { accountName: string; accountKey: string };
    submitConcurrency: number;
    /**
     * The pools' user-assigned identity, when Batch reaches job files with it instead of per-job
     * SAS URLs (it must be assigned to every pool and hold roles on the containers).
     */
    nodeIdentity?: string;
  };
  /** How callers are identified. */
  identity: IdentityMode;
  /** The App Service app's name, on Azure. */
  siteName?: string;
  /**
   * Application Insights, for the app's own log lines and metrics; with `entra`, telemetry is
   * sent with the managed identity (the resource takes no instrumentation key alone).
   */
  telemetry?: { connectionString: string; entra?: { clientId?: string } };
  /** The pool a job runs on when its spec names none. */
  defaultPool: string;
  /** Prefixes the app's table names, so several deployments or test runs share one account. */
  tablePrefix: string;
  /** Largest request body accepted. */
  maxBodyBytes: number;
  limits: SpecLimits;
  /** Lifetime of an inbox upload SAS. */
  inboxSasMinutes: number;
  /** Lifetime of a URL that uploads one of a user's files. */
  filesSasMinutes: number;
  /** How a BLOCKED job retries: the first wait, doubling up to the longest. */
  blockedRetry: { initialSeconds: number; maxSeconds: number };
  /** How long a job may wait BLOCKED, or QUEUED with no task started, before it fails (0: no limit). */
  guards: { maxBlockedMinutes: number; maxQueuedMinutes: number };
  /** Jobs must name a pool that exists: the deployment's pools are all there are. */
  poolsFixed: boolean;
  /** Jobs one user may have on Batch at once (more wait BLOCKED); 0 for no limit. */
  maxRunningJobsPerUser: number;
  /** Days after it ends that a job is forgotten, blobs and history included; 0 for never. */
  retentionDays: number;
  /**
   * Where users' secrets for jobs' env are kept: a Key Vault, or a file on one machine; without
   * either, jobs may not name secrets.
   */
  secrets?: { keyVaultUrl: string } | { file: string };
  /** Containers blob inputs may come from, besides the owner's job files; empty for any. */
  inputContainers: string[];
  /** Chunks of 100 tasks one orchestration submits; a larger job's go to sub-orchestrations. */
  chunksPerSubOrchestration: number;
  /**
   * Event streams: a comment after `heartbeatMs` of silence; a stream ends after `maxMs` (the
   * client resumes from its last event id); a watched job is read every `pollMs` for changes
   * recorded by other instances.
   */
  streams: { heartbeatMs: number; maxMs: number; pollMs: number };
  /** Which webhook URLs are accepted (https and public addresses only, unless these say more). */
  webhooks: { allowHttp: boolean; allowLoopback: boolean };
  /** The resource presets jobs may name instead of a pool. */
  presets: Preset[];
  notifications: {
    /** Waits between automatic delivery attempts, in seconds. */
    retryScheduleSeconds: number[];
    attemptTimeoutMs: number;
    /** A stream with news is looked at again after this even if its wake-up is lost. */
    backstopMs: number;
    /** SMTP server for email notifications; without it or `acs`, email subscriptions are refused. */
    smtp?: { url: string; from: string };
    /** Azure Communication Services' email API, for email notifications instead of SMTP. */
    acs?: AcsEmailConfig;
    /** The app's public address, for absolute links in emails. */
    publicUrl?: string;
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
  const nodeIdentity = values[CONFIG_KEYS.batchNodeIdentity];
  const smtpUrl = values[CONFIG_KEYS.smtpUrl];
  const keyVaultUrl = values[CONFIG_KEYS.keyVaultUrl];
  const secretsFile = values[CONFIG_KEYS.secretsFile];
  const acsConnectionString = values[CONFIG_KEYS.acsEmailConnectionString];
  const acsEndpoint = values[CONFIG_KEYS.acsEmailEndpoint];
  const from = values[CONFIG_KEYS.emailFrom];
  const publicUrl = values[CONFIG_KEYS.publicUrl];
  return {
    storage: storageConnection(values),
    batch: {
      accountUrl: values[CONFIG_KEYS.batchAccountUrl],
      ...(accountName && accountKey ? { sharedKey: { accountName, accountKey } } : {}),
      submitConcurrency: values[CONFIG_KEYS.batchSubmitConcurrency],
      ...(nodeIdentity ? { nodeIdentity } : {}),
    },
    identity: identityMode(
      values[CONFIG_KEYS.appServiceAuth],
      values[CONFIG_KEYS.apiTokens],
      values[CONFIG_KEYS.adminRole],
    ),
    ...(values[CONFIG_KEYS.siteName] ? { siteName: values[CONFIG_KEYS.siteName] } : {}),
    ...telemetryConfig(values),
    defaultPool: values[CONFIG_KEYS.defaultPool],
    tablePrefix: values[CONFIG_KEYS.tablePrefix],
    maxBodyBytes: values[CONFIG_KEYS.maxBodyBytes],
    limits: {
      maxTasks: values[CONFIG_KEYS.maxTasks],
      maxCommandLength: values[CONFIG_KEYS.maxCommandLength],
      maxEnvBytes: values[CONFIG_KEYS.maxEnvBytes],
      maxDependencyEdges: values[CONFIG_KEYS.maxDependencyEdges],
    },
    inboxSasMinutes: values[CONFIG_KEYS.inboxSasMinutes],
    filesSasMinutes: values[CONFIG_KEYS.filesSasMinutes],
    guards: {
      maxBlockedMinutes: values[CONFIG_KEYS.maxBlockedMinutes],
      maxQueuedMinutes: values[CONFIG_KEYS.maxQueuedMinutes],
    },
    poolsFixed: values[CONFIG_KEYS.poolsFixed],
    blockedRetry: {
      initialSeconds: values[CONFIG_KEYS.blockedRetryInitialSeconds],
      maxSeconds: values[CONFIG_KEYS.blockedRetryMaxSeconds],
    },
    maxRunningJobsPerUser: values[CONFIG_KEYS.maxRunningJobsPerUser],
    retentionDays: values[CONFIG_KEYS.retentionDays],
    ...(keyVaultUrl ? { secrets: { keyVaultUrl } } : secretsFile ? { secrets: { file: secretsFile } } : {}),
    inputContainers: values[CONFIG_KEYS.inputContainers],
    chunksPerSubOrchestration: values[CONFIG_KEYS.chunksPerSubOrchestration],
    streams: {
      heartbeatMs: values[CONFIG_KEYS.streamHeartbeatSeconds] * 1000,
      maxMs: values[CONFIG_KEYS.streamMaxSeconds] * 1000,
      pollMs: values[CONFIG_KEYS.streamPollMs],
    },
    presets: values[CONFIG_KEYS.presets],
    webhooks: {
      allowHttp: values[CONFIG_KEYS.webhookAllowHttp],
      allowLoopback: values[CONFIG_KEYS.webhookAllowLoopback],
    },
    notifications: {
      retryScheduleSeconds: values[CONFIG_KEYS.deliveryRetrySchedule],
      attemptTimeoutMs: values[CONFIG_KEYS.webhookTimeoutSeconds] * 1000,
      backstopMs: values[CONFIG_KEYS.deliveryBackstopSeconds] * 1000,
      ...(smtpUrl ? { smtp: { url: smtpUrl, from: from ?? 'cloudjobs <cloudjobs@localhost>' } } : {}),
      // The schema has made sure the sender is there whenever either ACS key is.
      ...(acsConnectionString && from ? { acs: { connectionString: acsConnectionString, from } } : {}),
      ...(acsEndpoint && from ? { acs: { endpoint: acsEndpoint, from } } : {}),
      ...(publicUrl ? { publicUrl } : {}),
    },
  };
}

type ConfigValues = z.output<typeof configSchema>;

function telemetryConfig(values: ConfigValues): Pick<AppConfig, 'telemetry'> {
  const connectionString = values[CONFIG_KEYS.appInsightsConnectionString];
  if (!connectionString) return {};
  const authentication = values[CONFIG_KEYS.appInsightsAuthentication];
  const clientId = authentication ? /ClientId=([^;]+)/i.exec(authentication)?.[1] : undefined;
  return {
    telemetry: {
      connectionString,
      ...(authentication ? { entra: clientId ? { clientId } : {} } : {}),
    },
  };
}

/** The schema has made sure there is either a connection string or enough to find the services. */
function storageConnection(values: ConfigValues): StorageConnection {
  const connectionString = values[CONFIG_KEYS.storage];
  if (connectionString !== undefined) return { kind: 'connectionString', connectionString };
  const account = values[CONFIG_KEYS.storageAccountName];
  const service = (uri: string | undefined, name: string) =>
    uri?.replace(/\/+$/, '') ?? `https://${account}.${name}.core.windows.net`;
  const credential = values[CONFIG_KEYS.storageCredential];
  const clientId = values[CONFIG_KEYS.storageClientId];
  return {
    kind: 'identity',
    blobServiceUri: service(values[CONFIG_KEYS.storageBlobServiceUri], 'blob'),
    tableServiceUri: service(values[CONFIG_KEYS.storageTableServiceUri], 'table'),
    ...(credential ? { credential } : {}),
    ...(clientId ? { clientId } : {}),
  };
}

/** App Service authentication wins when the platform has it on; then API tokens; else single-user. */
function identityMode(
  appServiceAuth: boolean,
  tokens: ApiToken[] | undefined,
  adminRole: string,
): IdentityMode {
  if (appServiceAuth) return { kind: 'appServiceAuth', adminRole };
  if (tokens && tokens.length > 0) return { kind: 'tokens', tokens };
  return { kind: 'local' };
}

/**
 * The names of the settings the app reads, and what the Azure deployment does with each: the one
 * place keys are spelled. `config.ts` reads and validates them.
 */

/**
 * Every setting the app reads, by the environment key it is read from. `config.ts` gives each its
 * schema and default; `loadConfig` validates them all at start and names every bad key at once.
 */
export const CONFIG_KEYS = {
  storage: 'AzureWebJobsStorage',
  storageAccountName: 'AzureWebJobsStorage__accountName',
  storageBlobServiceUri: 'AzureWebJobsStorage__blobServiceUri',
  storageQueueServiceUri: 'AzureWebJobsStorage__queueServiceUri',
  storageTableServiceUri: 'AzureWebJobsStorage__tableServiceUri',
  storageCredential: 'AzureWebJobsStorage__credential',
  storageClientId: 'AzureWebJobsStorage__clientId',
  batchAccountUrl: 'BATCH_ACCOUNT_URL',
  batchAccountName: 'BATCH_ACCOUNT_NAME',
  batchAccountKey: 'BATCH_ACCOUNT_KEY',
  batchSubmitConcurrency: 'BATCH_SUBMIT_CONCURRENCY',
  batchNodeIdentity: 'CLOUDJOBS_BATCH_NODE_IDENTITY',
  apiTokens: 'CLOUDJOBS_API_TOKENS',
  adminRole: 'CLOUDJOBS_ADMIN_ROLE',
  appServiceAuth: 'WEBSITE_AUTH_ENABLED',
  siteName: 'WEBSITE_SITE_NAME',
  defaultPool: 'CLOUDJOBS_DEFAULT_POOL',
  tablePrefix: 'CLOUDJOBS_TABLE_PREFIX',
  maxBodyBytes: 'CLOUDJOBS_MAX_BODY_BYTES',
  maxTasks: 'CLOUDJOBS_MAX_TASKS',
  maxCommandLength: 'CLOUDJOBS_MAX_COMMAND_LENGTH',
  maxEnvBytes: 'CLOUDJOBS_MAX_ENV_BYTES',
  maxDependencyEdges: 'CLOUDJOBS_MAX_DEPENDENCY_EDGES',
  inboxSasMinutes: 'CLOUDJOBS_INBOX_SAS_MINUTES',
  filesSasMinutes: 'CLOUDJOBS_FILES_SAS_MINUTES',
  blockedRetryInitialSeconds: 'CLOUDJOBS_BLOCKED_RETRY_INITIAL_SECONDS',
  blockedRetryMaxSeconds: 'CLOUDJOBS_BLOCKED_RETRY_MAX_SECONDS',
  maxBlockedMinutes: 'CLOUDJOBS_MAX_BLOCKED_MINUTES',
  maxQueuedMinutes: 'CLOUDJOBS_MAX_QUEUED_MINUTES',
  poolsFixed: 'CLOUDJOBS_POOLS_FIXED',
  presets: 'CLOUDJOBS_PRESETS',
  maxRunningJobsPerUser: 'CLOUDJOBS_MAX_RUNNING_JOBS_PER_USER',
  retentionDays: 'CLOUDJOBS_RETENTION_DAYS',
  keyVaultUrl: 'CLOUDJOBS_KEY_VAULT_URL',
  secretsFile: 'CLOUDJOBS_SECRETS_FILE',
  inputContainers: 'CLOUDJOBS_INPUT_CONTAINERS',
  chunksPerSubOrchestration: 'CLOUDJOBS_CHUNKS_PER_SUB_ORCHESTRATION',
  streamHeartbeatSeconds: 'CLOUDJOBS_STREAM_HEARTBEAT_SECONDS',
  streamMaxSeconds: 'CLOUDJOBS_STREAM_MAX_SECONDS',
  streamPollMs: 'CLOUDJOBS_STREAM_POLL_MS',
  webhookAllowHttp: 'CLOUDJOBS_WEBHOOK_ALLOW_HTTP',
  webhookAllowLoopback: 'CLOUDJOBS_WEBHOOK_ALLOW_LOOPBACK',
  webhookTimeoutSeconds: 'CLOUDJOBS_WEBHOOK_TIMEOUT_SECONDS',
  deliveryRetrySchedule: 'CLOUDJOBS_DELIVERY_RETRY_SCHEDULE',
  deliveryBackstopSeconds: 'CLOUDJOBS_DELIVERY_BACKSTOP_SECONDS',
  smtpUrl: 'CLOUDJOBS_SMTP_URL',
  acsEmailConnectionString: 'CLOUDJOBS_ACS_EMAIL_CONNECTION_STRING',
  acsEmailEndpoint: 'CLOUDJOBS_ACS_EMAIL_ENDPOINT',
  emailFrom: 'CLOUDJOBS_EMAIL_FROM',
  publicUrl: 'CLOUDJOBS_PUBLIC_URL',
  appInsightsConnectionString: 'APPLICATIONINSIGHTS_CONNECTION_STRING',
  appInsightsAuthentication: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
} as const;

/** The name of a setting the app reads. */
export type ConfigKey = (typeof CONFIG_KEYS)[keyof typeof CONFIG_KEYS];

/**
 * The connection the Service Bus triggers and output bindings name. The Functions host resolves
 * it, not the app: a connection string locally, `ServiceBusConnection__fullyQualifiedNamespace`
 * (the app's managed identity) on Azure.
 */
export const SERVICE_BUS_CONNECTION = 'ServiceBusConnection';

/**
 * What the Azure deployment (`infra/azure`) does with a setting; the drift test holds the
 * templates to it:
 * - `set`: the templates always set it;
 * - `option`: the templates set it when a deployment parameter turns its feature on;
 * - `secret`: when set, only as a Key Vault reference (`@Microsoft.KeyVault(...)`), never a value;
 * - `platform`: App Service sets it itself; the templates must not;
 * - `default`: left unset, because the app's default suits Azure (an operator may still set it);
 * - `never`: must not be set on Azure: a shared key or connection string (identities replace
 *   them), or a relaxation that only a developer's machine should have.
 */
export type DeploymentUse = 'set' | 'option' | 'secret' | 'platform' | 'default' | 'never';

/** Each setting's {@link DeploymentUse}. */
export const DEPLOYMENT: Readonly<Record<ConfigKey, DeploymentUse>> = {
  [CONFIG_KEYS.storage]: 'never',
  [CONFIG_KEYS.storageAccountName]: 'set',
  [CONFIG_KEYS.storageBlobServiceUri]: 'set',
  [CONFIG_KEYS.storageQueueServiceUri]: 'set',
  [CONFIG_KEYS.storageTableServiceUri]: 'set',
  [CONFIG_KEYS.storageCredential]: 'set',
  [CONFIG_KEYS.storageClientId]: 'default',
  [CONFIG_KEYS.batchAccountUrl]: 'set',
  [CONFIG_KEYS.batchAccountName]: 'never',
  [CONFIG_KEYS.batchAccountKey]: 'never',
  [CONFIG_KEYS.batchSubmitConcurrency]: 'default',
  [CONFIG_KEYS.batchNodeIdentity]: 'option',
  [CONFIG_KEYS.apiTokens]: 'secret',
  [CONFIG_KEYS.adminRole]: 'set',
  [CONFIG_KEYS.appServiceAuth]: 'platform',
  [CONFIG_KEYS.siteName]: 'platform',
  [CONFIG_KEYS.defaultPool]: 'set',
  [CONFIG_KEYS.tablePrefix]: 'default',
  [CONFIG_KEYS.maxBodyBytes]: 'default',
  [CONFIG_KEYS.maxTasks]: 'default',
  [CONFIG_KEYS.maxCommandLength]: 'default',
  [CONFIG_KEYS.maxEnvBytes]: 'default',
  [CONFIG_KEYS.maxDependencyEdges]: 'default',
  [CONFIG_KEYS.inboxSasMinutes]: 'default',
  [CONFIG_KEYS.filesSasMinutes]: 'default',
  [CONFIG_KEYS.streamHeartbeatSeconds]: 'default',
  // Set shorter behind the dashboard, whose proxy cuts requests at 45 s.
  [CONFIG_KEYS.streamMaxSeconds]: 'option',
  [CONFIG_KEYS.streamPollMs]: 'default',
  [CONFIG_KEYS.blockedRetryInitialSeconds]: 'default',
  [CONFIG_KEYS.blockedRetryMaxSeconds]: 'default',
  [CONFIG_KEYS.maxBlockedMinutes]: 'default',
  [CONFIG_KEYS.maxQueuedMinutes]: 'default',
  // Pools on Azure are the deployment's (infra/azure makes them): a job naming another is a typo.
  [CONFIG_KEYS.poolsFixed]: 'set',
  [CONFIG_KEYS.presets]: 'set',
  [CONFIG_KEYS.maxRunningJobsPerUser]: 'set',
  [CONFIG_KEYS.retentionDays]: 'set',
  // Users' secrets live in a vault of their own on Azure, never in a file.
  [CONFIG_KEYS.keyVaultUrl]: 'set',
  [CONFIG_KEYS.secretsFile]: 'never',
  [CONFIG_KEYS.inputContainers]: 'set',
  [CONFIG_KEYS.chunksPerSubOrchestration]: 'default',
  [CONFIG_KEYS.webhookAllowHttp]: 'never',
  [CONFIG_KEYS.webhookAllowLoopback]: 'never',
  [CONFIG_KEYS.webhookTimeoutSeconds]: 'default',
  [CONFIG_KEYS.deliveryRetrySchedule]: 'default',
  [CONFIG_KEYS.deliveryBackstopSeconds]: 'default',
  [CONFIG_KEYS.smtpUrl]: 'secret',
  [CONFIG_KEYS.acsEmailConnectionString]: 'never',
  [CONFIG_KEYS.acsEmailEndpoint]: 'option',
  [CONFIG_KEYS.emailFrom]: 'option',
  [CONFIG_KEYS.publicUrl]: 'set',
  [CONFIG_KEYS.appInsightsConnectionString]: 'set',
  [CONFIG_KEYS.appInsightsAuthentication]: 'set',
};

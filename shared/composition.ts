import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import type { Telemetry } from './telemetry.js';
import { ConsoleTelemetry } from './adapters/consoleTelemetry.js';
import { AzureMonitorTelemetry } from './adapters/azureMonitorTelemetry.js';
import { loadConfig, type AppConfig } from './config.js';
import type { ComputeBackend } from './compute/compute.js';
import type { HealthProbe } from './health.js';
import { AzureBatch } from './adapters/azureBatch.js';
import { storageProbes } from './adapters/storageProbes.js';
import { openStorageAccount } from './adapters/storageAccount.js';
import { azureBlobContainers } from './adapters/azureBlobs.js';
import { CONTAINERS } from './storageLayout.js';
import { TableJobStore } from './adapters/tableJobStore.js';
import { JobsApi } from './jobs/jobsApi.js';
import { PoolsApi } from './jobs/poolsApi.js';
import { SubscriptionsApi } from './notifications/subscriptionsApi.js';
import { InboxApi } from './jobs/inboxApi.js';
import { UserFiles } from './jobs/userFiles.js';
import { JobCleanup } from './jobs/jobCleanup.js';
import { Secrets, type SecretVault } from './jobs/secrets.js';
import { KeyVaultSecrets } from './adapters/keyVaultSecrets.js';
import { FileSecrets } from './adapters/fileSecrets.js';
import { UploadUrlSigner } from './adapters/uploadSas.js';
import { TableSubscriptionStore } from './adapters/tableSubscriptionStore.js';
import { TableDeliveryStore } from './adapters/tableDeliveryStore.js';
import { UndiciWebhookSender } from './adapters/webhookSender.js';
import { HttpsInputProbe } from './adapters/httpsInputProbe.js';
import { SmtpEmailSender } from './adapters/smtpSender.js';
import { AcsEmailSender } from './adapters/acsEmailSender.js';
import { Notifier } from './notifications/notifier.js';
import type { EmailSender } from './notifications/senders.js';
import { TaskEventInterest } from './notifications/taskEventInterest.js';
import type { JobStore } from './store/jobStore.js';
import { SasLocations } from './adapters/sasLocations.js';
import { IdentityLocations } from './adapters/identityLocations.js';
import { JobRunner } from './jobs/jobRunner.js';
import { StatusRecorder } from './jobs/statusRecorder.js';
import { TaskSignals } from './jobs/taskSignals.js';
import { TaskAdditions } from './jobs/taskAdditions.js';
import { JobControls } from './jobs/jobControls.js';
import { JobFiles } from './jobs/jobFiles.js';
import { JobFeeds } from './jobs/jobFeeds.js';
import { JobStreams } from './jobs/jobStreams.js';
import { OwnerStreams } from './jobs/ownerStreams.js';
import { InboxIntake } from './jobs/inboxIntake.js';
import * as df from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import { durableOrchestrations, type JobOrchestrations } from './adapters/durableOrchestrations.js';

/** The app's dependencies, wired once per process from the configuration. */
export interface Services {
  config: AppConfig;
  /** Log lines about jobs and metrics, for operators. */
  telemetry: Telemetry & { flush?: () => Promise<void> };
  healthProbes: HealthProbe[];
  compute: ComputeBackend;
  store: JobStore;
  jobs: JobsApi;
  pools: PoolsApi;
  subscriptions: SubscriptionsApi;
  /** Delivers job events to subscriptions. */
  notifier: Notifier;
  inbox: InboxApi;
  /** Users' own files (`uploads/<owner>/`), which jobs take as `files://` inputs. */
  userFiles: UserFiles;
  /** Owners' secrets, which jobs' env values name (`{"secretRef": "..."}`). */
  secrets: Secrets;
  /** Forgets ended jobs whole: on delete, and by age (`CLOUDJOBS_RETENTION_DAYS`). */
  cleanup: JobCleanup;
  runner: JobRunner;
  statuses: StatusRecorder;
  signals: TaskSignals;
  /** Tasks added to open jobs. */
  additions: TaskAdditions;
  /** Resubmitting, adding tasks, cancelling one task. */
  controls: JobControls;
  files: JobFiles;
  /** Jobs' live event streams. */
  streams: JobStreams;
  /** Each owner's stream of all their jobs' changes. */
  ownerStreams: OwnerStreams;
  intake: InboxIntake;
  /** Creates the app's containers if they are missing (the inbox must exist before anyone writes). */
  ensureContainers: () => Promise<void>;
  /** The job orchestrations, through the invocation's durable client binding. */
  orchestrations: (context: InvocationContext) => JobOrchestrations;
}

let services: Services | undefined;

/** How long a job counts as followed after its stream last said so (streams renew every minute). */
const WATCH_MARK_MS = 3 * 60_000;

/** Application Insights when the deployment has it (the app's identity signs in), else the console. */
function openTelemetry(config: AppConfig): Services['telemetry'] {
  if (!config.telemetry) return new ConsoleTelemetry();
  const { connectionString, entra } = config.telemetry;
  return new AzureMonitorTelemetry({
    connectionString,
    ...(entra
      ? {
          credential: entra.clientId
            ? new ManagedIdentityCredential({ clientId: entra.clientId })
            : new ManagedIdentityCredential(),
        }
      : {}),
    serviceName: config.siteName ?? 'cloudjobs',
  });
}

/**
 * Replaces the wired services (or, with `undefined`, forgets them so the next call wires them
 * again). For in-process handler tests, which pass fakes of the app's own interfaces.
 */
export function setServices(replacement: Services | undefined): void {
  services = replacement;
}

/** The composition root: the one place adapters are chosen and connected. */
export function getServices(): Services {
  services ??= wire(loadConfig());
  return services;
}

function wire(config: AppConfig): Services {
  const telemetry = openTelemetry(config);
  const emailConfigured = config.notifications.smtp !== undefined || config.notifications.acs !== undefined;
  const batch = config.batch;
  const compute = openCompute(batch);
  const account = openStorageAccount(config.storage);
  const blobs = account.blobs;
  const containers = azureBlobContainers(blobs);
  const store = new TableJobStore({
    tables: account.table,
    tablePrefix: config.tablePrefix,
    specs: blobs.getContainerClient(CONTAINERS.jobs),
    changed: (jobId) => live.changed(jobId),
  });
  const subscriptionStore = new TableSubscriptionStore({
    tables: account.table,
    tablePrefix: config.tablePrefix,
  });
  const interest = new TaskEventInterest({ subscriptions: subscriptionStore, watches: store });
  const logTaskEvents = (job: { id: string; owner: string }) => interest.wanted(job.owner, job.id);
  const presets = new Map(config.presets.map((preset) => [preset.name, preset]));
  const secrets = new Secrets(openSecretVault(config.secrets));
  const jobs = new JobsApi({
    store,
    limits: config.limits,
    defaultPool: config.defaultPool,
    defaultLogsContainer: CONTAINERS.logs,
    webhooks: config.webhooks,
    pools: compute,
    poolsFixed: config.poolsFixed,
    presets,
    emailConfigured,
    secrets,
    registerNotifications: (owner, jobId, notifications) =>
      subscriptions.registerForJob(owner, jobId, notifications),
    forgetNotifications: (owner, jobId) => subscriptions.forgetJob(owner, jobId),
    telemetry,
  });
  const live = openStreams(config, store, interest, jobs);
  const runner = new JobRunner({
    store,
    compute,
    jobs: containers(CONTAINERS.jobs),
    containers,
    appContainers: {
      jobs: CONTAINERS.jobs,
      others: [CONTAINERS.logs, CONTAINERS.inbox, CONTAINERS.rejected, CONTAINERS.uploads],
    },
    uploadsContainer: CONTAINERS.uploads,
    limits: config.limits,
    defaultPool: config.defaultPool,
    defaultLogsContainer: CONTAINERS.logs,
    presets,
    locations: (expiresOn) =>
      batch.nodeIdentity
        ? Promise.resolve(new IdentityLocations(blobs, batch.nodeIdentity))
        : SasLocations.create(blobs, expiresOn),
    inputContainers: config.inputContainers,
    // The same address rules as webhooks: a job must not make the app probe its own network.
    httpsInputs: new HttpsInputProbe({
      policy: config.webhooks,
      timeoutMs: config.notifications.attemptTimeoutMs,
    }),
    logTaskEvents,
    secrets,
  });
  const statuses = new StatusRecorder(store, undefined, telemetry);
  const deliveries = new TableDeliveryStore({
    tables: account.table,
    tablePrefix: config.tablePrefix,
  });
  const subscriptions: SubscriptionsApi = new SubscriptionsApi({
    store: subscriptionStore,
    deliveries,
    jobs,
    webhooks: config.webhooks,
    email: emailConfigured,
    changed: (owner) => interest.forget(owner),
  });
  return {
    config,
    telemetry,
    healthProbes: [...storageProbes(account), { name: 'batch', check: (signal) => compute.ping(signal) }],
    compute,
    store,
    jobs,
    pools: new PoolsApi(compute),
    subscriptions,
    notifier: openNotifier(config, { jobs: store, subscriptions: subscriptionStore, deliveries, telemetry }),
    inbox: new InboxApi(new UploadUrlSigner(blobs, CONTAINERS.inbox), config.inboxSasMinutes),
    userFiles: new UserFiles({
      container: containers(CONTAINERS.uploads),
      signer: new UploadUrlSigner(blobs, CONTAINERS.uploads, 'rcw'),
      lifetimeMinutes: config.filesSasMinutes,
    }),
    runner,
    secrets,
    cleanup: new JobCleanup({
      store,
      blobs: containers,
      jobsContainer: CONTAINERS.jobs,
      defaultLogsContainer: CONTAINERS.logs,
      compute,
      chunksPerSubOrchestration: config.chunksPerSubOrchestration,
      forgetNotifications: (owner, jobId) => subscriptions.forgetJob(owner, jobId),
      subscriptions: subscriptionStore,
      deliveries,
    }),
    additions: new TaskAdditions({ store, runner, jobs: containers(CONTAINERS.jobs), secrets }),
    controls: new JobControls({ jobs, store }),
    statuses,
    signals: new TaskSignals({
      store,
      compute,
      statuses,
      graph: (jobId) => runner.readGraph(jobId),
      logTaskEvents,
      telemetry,
    }),
    ensureContainers: async () => {
      await Promise.all(
        Object.values(CONTAINERS).map((name) => blobs.getContainerClient(name).createIfNotExists()),
      );
    },
    intake: new InboxIntake({
      jobs,
      inbox: containers(CONTAINERS.inbox),
      rejected: containers(CONTAINERS.rejected),
      maxBytes: config.maxBodyBytes,
    }),
    orchestrations: (context) =>
      durableOrchestrations(df.getClient(context), {
        blockedRetry: config.blockedRetry,
        guards: config.guards,
        chunksPerSubOrchestration: config.chunksPerSubOrchestration,
        maxRunningJobsPerUser: config.maxRunningJobsPerUser,
      }),
    ownerStreams: live.ownerStreams,
    streams: live.streams,
    files: new JobFiles({
      jobs,
      compute,
      followMs: config.streams.maxMs,
      blobs: containers,
      jobsContainer: CONTAINERS.jobs,
    }),
  };
}

/**
 * The live event streams: a feed per watched job shared by its streams, and the owners' streams.
 * `changed` is told of every change this process records, so they read it at once.
 */
function openStreams(config: AppConfig, store: TableJobStore, interest: TaskEventInterest, jobs: JobsApi) {
  const ownerStreams = new OwnerStreams({
    store,
    heartbeatMs: config.streams.heartbeatMs,
    maxStreamMs: config.streams.maxMs,
    pollMs: config.streams.pollMs,
    // Counts move with every task; a dashboard's bars need them every few seconds, not at once.
    progressMs: Math.max(2000, 2 * config.streams.pollMs),
  });
  const feeds = new JobFeeds({
    store,
    pollMs: config.streams.pollMs,
    // Someone follows the job: its task changes are logged for the stream from now on.
    watch: async (jobId) => {
      const until = new Date(Date.now() + WATCH_MARK_MS).toISOString();
      interest.watching(jobId, until);
      await store.watch(jobId, until);
    },
  });
  const streams = new JobStreams({
    job: (caller, id) => jobs.job(caller, id),
    store,
    feeds,
    heartbeatMs: config.streams.heartbeatMs,
    maxStreamMs: config.streams.maxMs,
  });
  return {
    ownerStreams,
    streams,
    changed: (jobId: string) => {
      feeds.nudge(jobId);
      ownerStreams.wake();
    },
  };
}

/** The notifier, with the delivery settings and the senders the configuration chooses. */
function openNotifier(
  config: AppConfig,
  stores: Pick<
    ConstructorParameters<typeof Notifier>[0],
    'jobs' | 'subscriptions' | 'deliveries' | 'telemetry'
  >,
): Notifier {
  const { smtp: _smtp, acs: _acs, ...settings } = config.notifications;
  const email = openEmail(config.notifications);
  return new Notifier({
    ...stores,
    webhooks: new UndiciWebhookSender({
      policy: config.webhooks,
      timeoutMs: config.notifications.attemptTimeoutMs,
    }),
    ...(email ? { email } : {}),
    settings,
  });
}

function openCompute(batch: AppConfig['batch']): AzureBatch {
  return new AzureBatch({
    accountUrl: batch.accountUrl,
    credentials: batch.sharedKey
      ? { kind: 'sharedKey', ...batch.sharedKey }
      : { kind: 'entra', credential: new DefaultAzureCredential() },
    submitConcurrency: batch.submitConcurrency,
  });
}

/** Where users' secrets are kept: the deployment's vault for them, or a file on one machine. */
function openSecretVault(secrets: AppConfig['secrets']): SecretVault | undefined {
  if (!secrets) return undefined;
  if ('file' in secrets) return new FileSecrets(secrets.file);
  return new KeyVaultSecrets({ url: secrets.keyVaultUrl, credential: new DefaultAzureCredential() });
}

/** The email sender the configuration names: SMTP or Azure Communication Services (it allows one), or none. */
function openEmail(notifications: AppConfig['notifications']): EmailSender | undefined {
  const { smtp, acs, attemptTimeoutMs: timeoutMs } = notifications;
  if (smtp) return new SmtpEmailSender(smtp.url, smtp.from, timeoutMs);
  if (!acs) return undefined;
  return new AcsEmailSender({
    ...('connectionString' in acs
      ? { connectionString: acs.connectionString }
      : { endpoint: acs.endpoint, credential: new DefaultAzureCredential() }),
    from: acs.from,
    timeoutMs,
  });
}

import type { DeliveryFaults } from './deliveryFaults.js';
import { cpus } from 'node:os';
import path from 'node:path';
import { rename, writeFile } from 'node:fs/promises';
import { describeApp, importEntryPoints } from './host/appLoader.js';
import { FunctionHost } from './host/functionHost.js';
import { installFunctionsCore } from './host/functionsCore.js';
import { resolveHostSettings, type HostSettings } from './host/hostConfig.js';
import { Logger, parseLogLevel, describeError } from './host/logger.js';
import type { RpcLogLevel } from './host/coreTypes.js';
import { HttpServer } from './http/httpServer.js';
import { DurableRuntime } from './durable/durableRuntime.js';
import {
  accountUrl,
  connectionString,
  DEV_ACCOUNT_KEY,
  DEV_ACCOUNT_NAME,
  isDevelopmentStorage,
  type StorageEndpoints,
} from './storage/account.js';
import { LocalBatch, type Faults } from './batch/localBatch.js';
import { probeStorage, startAzurite, type AzuriteHandle } from './storage/azurite.js';
import { StorageClients } from './storage/clients.js';
import { ServiceBusEmulator } from './servicebus/serviceBus.js';
import { EventGridEmulator } from './eventgrid/eventGrid.js';
import { TimerScheduler } from './timers/timerScheduler.js';
import { createAdminApi, ADMIN_PREFIX } from './adminApi.js';
import { SmtpCatcher } from './email/smtpCatcher.js';

/** How the runtime reaches storage: an Azurite it runs, or one already running elsewhere. */
export type StorageOption =
  | { kind: 'managed'; blobPort: number; queuePort: number; tablePort: number; inMemory: boolean }
  | { kind: 'external'; endpoints: StorageEndpoints };

export interface RuntimeOptions {
  appDir: string;
  /** State directory (`.cloudjobs` in the working directory by default). */
  home: string;
  host: string;
  port: number;
  storage: StorageOption;
  /** Port for the blob endpoint the app and users see (the Event Grid proxy); 0 picks one. */
  blobPort?: number;
  /** Prefix for everything the runtime itself names in storage, so runtimes can share an Azurite. */
  namespace?: string;
  logLevel?: RpcLogLevel;
  /** Event Grid retry delays, overriding Azure's schedule (for tests). */
  eventGridRetryDelaysMs?: number[];
  /** Duplicated and lost signals, injected on purpose (tests). */
  deliveryFaults?: DeliveryFaults;
  /** The local Batch service: its port (0 picks one), the slots of its default pool, injected faults. */
  batch?: { port: number; slots: number; faults?: Partial<Faults> } | false;
  /** The SMTP catcher for email notifications: its port (0 picks one). */
  smtp?: { port: number } | false;
  /** Written (JSON) once the runtime is ready: its URLs and storage endpoints. */
  readyFile?: string;
  logWrite?: (line: string) => void;
}

const SUPPORTED_TRIGGERS = new Set([
  'httptrigger',
  'orchestrationtrigger',
  'activitytrigger',
  'servicebustrigger',
  'eventgridtrigger',
  'timertrigger',
]);

/** What a started runtime tells its caller. */
export interface RuntimeInfo {
  url: string;
  /** The local Batch service's account URL, when the runtime runs one. */
  batchUrl?: string;
  /** The SMTP catcher, when the runtime runs one. */
  smtpUrl?: string;
  storage: StorageEndpoints;
  connectionString: string;
  hubName: string;
  functions: string[];
}

/**
 * The embedded runtime: the unchanged function app on one machine, with Azurite for storage and
 * stand-ins for the Functions host, Durable, Service Bus, Event Grid and timers.
 */
export class Runtime {
  readonly #options: RuntimeOptions;
  readonly #logger: Logger;
  readonly #stops: Array<() => Promise<void>> = [];
  #info: RuntimeInfo | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: RuntimeOptions) {
    this.#options = options;
    this.#logger = new Logger({
      defaultLevel: options.logLevel ?? 'information',
      ...(options.logWrite ? { write: options.logWrite } : {}),
    });
  }

  get info(): RuntimeInfo {
    if (!this.#info) throw new Error('the runtime has not started');
    return this.#info;
  }

  async start(): Promise<RuntimeInfo> {
    try {
      return await this.#start();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async #start(): Promise<RuntimeInfo> {
    const options = this.#options;
    const log = this.#logger.child('runtime');
    const app = await describeApp(options.appDir);
    const settings: HostSettings = resolveHostSettings(app.hostJson, cpus().length);
    const levels: Record<string, RpcLogLevel> = {};
    for (const [category, value] of Object.entries(settings.logLevels)) {
      const level = parseLogLevel(value);
      if (level && category !== 'default') levels[category] = level;
    }
    const defaultLevel = options.logLevel ?? parseLogLevel(settings.logLevels.default) ?? 'information';
    const logger = new Logger({
      defaultLevel,
      categoryLevels: levels,
      ...(options.logWrite ? { write: options.logWrite } : {}),
    });
    const namespace = options.namespace ?? '';
    if (namespace)
      settings.durable.hubName = `${namespace.replace(/[^A-Za-z0-9]/g, '')}${settings.durable.hubName}`.slice(
        0,
        45,
      );

    for (const [key, value] of Object.entries(app.localSettings)) {
      if (process.env[key] === undefined) process.env[key] = value;
    }

    // The API port first: if it is taken, fail before starting anything else.
    const core = installFunctionsCore();
    core.reset();
    const functionHost = new FunctionHost(core, logger);
    const previousSink = core.attach(functionHost);
    this.#stops.push(() => {
      core.attach(previousSink);
      return Promise.resolve();
    });

    const http = new HttpServer({
      host: options.host,
      port: options.port,
      routePrefix: settings.routePrefix,
      maxBodyBytes: Number(process.env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT ?? 100 * 1024 * 1024),
      ...(app.hostJson.extensions?.http?.maxConcurrentRequests
        ? { maxConcurrentRequests: app.hostJson.extensions.http.maxConcurrentRequests }
        : {}),
      ...(app.hostJson.extensions?.http?.maxOutstandingRequests
        ? { maxOutstandingRequests: app.hostJson.extensions.http.maxOutstandingRequests }
        : {}),
      functionHost,
      logger: logger.child('http'),
    });
    await http.listen();
    this.#stops.push(() => http.close());

    // Then storage: everything else keeps its state there.
    let direct: StorageEndpoints;
    let blobPort = options.blobPort ?? 0;
    if (options.storage.kind === 'managed') {
      const { blobPort: publicBlob, queuePort, tablePort } = options.storage;
      const probes = await Promise.all(
        [publicBlob, queuePort, tablePort].map((port) => probeStorage(`http://${options.host}:${port}/`)),
      );
      if (probes.every((p) => p === 'azurite')) {
        // Someone's Azurite already has the usual ports: use it. Writes made straight to it skip
        // the proxy and raise no Event Grid events, so the proxy takes another port.
        direct = {
          blob: accountUrl(options.host, publicBlob),
          queue: accountUrl(options.host, queuePort),
          table: accountUrl(options.host, tablePort),
        };
        blobPort = options.blobPort ?? 0;
        log.warn(
          `reusing the Azurite already on ports ${publicBlob}-${tablePort}; blob events are raised only for writes ` +
            "through the runtime's blob endpoint (below), not for writes made straight to Azurite",
        );
      } else {
        const taken = [publicBlob, queuePort, tablePort].filter((_, i) => probes[i] !== 'none');
        if (taken.length > 0) {
          throw new Error(
            `storage port(s) ${taken.join(', ')} are in use by something other than a complete Azurite; ` +
              'stop it or choose other ports',
          );
        }
        const azurite: AzuriteHandle = await startAzurite({
          host: options.host,
          // Azurite's blob service sits behind the Event Grid proxy, which takes the public port.
          blobPort: 0,
          queuePort,
          tablePort,
          ...(options.storage.inMemory ? {} : { location: path.join(options.home, 'azurite') }),
          logger: logger.child('azurite'),
        });
        this.#stops.push(() => azurite.stop());
        direct = azurite.endpoints;
        blobPort = options.blobPort ?? publicBlob;
      }
    } else {
      direct = options.storage.endpoints;
    }
    const internal = new StorageClients(connectionString(direct));

    const eventGrid = new EventGridEmulator({
      host: options.host,
      port: blobPort,
      azuriteBlob: direct.blob,
      storage: internal,
      namespace,
      appDir: app.directory,
      logger: logger.child('eventgrid'),
      ...(options.eventGridRetryDelaysMs ? { retryDelaysMs: options.eventGridRetryDelaysMs } : {}),
      ...(options.deliveryFaults ? { faults: options.deliveryFaults } : {}),
    });
    await eventGrid.listen();
    this.#stops.push(() => eventGrid.close());
    const publicEndpoints: StorageEndpoints = { ...direct, blob: eventGrid.blobEndpoint };
    const appConnection = connectionString(publicEndpoints);
    const storageSetting = process.env.AzureWebJobsStorage;
    if (storageSetting === undefined || isDevelopmentStorage(storageSetting))
      process.env.AzureWebJobsStorage = appConnection;
    for (const [key, value] of Object.entries(process.env)) {
      if (isDevelopmentStorage(value)) process.env[key] = appConnection;
    }

    // The local Batch service, unless the app is configured for a real Batch account.
    let batchUrl: string | undefined;
    if (options.batch !== false && !process.env.BATCH_ACCOUNT_URL) {
      const batch = new LocalBatch({
        host: options.host,
        port: options.batch?.port ?? 10100,
        dataDir:
          options.storage.kind === 'managed' && options.storage.inMemory
            ? path.join(options.home, 'batch-ephemeral')
            : path.join(options.home, 'batch'),
        storage: { accountName: DEV_ACCOUNT_NAME, accountKey: DEV_ACCOUNT_KEY },
        pools: [
          { id: 'local', nodes: 1, slotsPerNode: options.batch?.slots ?? Math.max(2, cpus().length * 2) },
        ],
        ...(options.batch?.faults ? { faults: options.batch.faults } : {}),
        logger: logger.child('batch'),
      });
      await batch.start();
      this.#stops.push(() => batch.stop());
      batchUrl = batch.url;
      process.env.BATCH_ACCOUNT_URL = batch.url;
      process.env.BATCH_ACCOUNT_NAME = batch.accountName;
      process.env.BATCH_ACCOUNT_KEY = batch.accountKey;
      process.env.CLOUDJOBS_DEFAULT_POOL ??= 'local';
    }

    // On one machine a webhook receiver is on this machine: let a newcomer try it (Azure: no).
    process.env.CLOUDJOBS_WEBHOOK_ALLOW_LOOPBACK ??= 'true';
    process.env.CLOUDJOBS_WEBHOOK_ALLOW_HTTP ??= 'true';
    // Email goes to a local catcher unless the app is configured with a real mail server, or with
    // Azure Communication Services' email API (the app refuses both at once).
    let mail: SmtpCatcher | undefined;
    const acsEmail =
      process.env.CLOUDJOBS_ACS_EMAIL_CONNECTION_STRING?.trim() ||
      process.env.CLOUDJOBS_ACS_EMAIL_ENDPOINT?.trim();
    if (options.smtp !== false && !process.env.CLOUDJOBS_SMTP_URL?.trim() && !acsEmail) {
      mail = new SmtpCatcher({
        host: options.host,
        port: options.smtp?.port ?? 2525,
        dir: path.join(options.home, 'mail'),
        logger: logger.child('smtp'),
      });
      await mail.start();
      const catcher = mail;
      this.#stops.push(() => catcher.stop());
      process.env.CLOUDJOBS_SMTP_URL = mail.url;
    }
    if (!process.env.CLOUDJOBS_PUBLIC_URL?.trim()) process.env.CLOUDJOBS_PUBLIC_URL = http.url;
    process.env.WEBSITE_HOSTNAME = new URL(http.url).host;
    process.env.FUNCTIONS_WORKER_RUNTIME ??= 'node';
    process.env.AZURE_FUNCTIONS_ENVIRONMENT ??= 'Development';

    const durable = new DurableRuntime({
      host: functionHost,
      settings: settings.durable,
      storage: internal,
      http,
      logger: logger.child('durable'),
    });
    const serviceBus = new ServiceBusEmulator({
      host: functionHost,
      settings,
      storage: internal,
      namespace,
      appDir: app.directory,
      logger: logger.child('servicebus'),
      ...(options.deliveryFaults ? { faults: options.deliveryFaults } : {}),
    });
    const timers = new TimerScheduler({
      host: functionHost,
      storage: internal,
      namespace,
      logger: logger.child('timer'),
    });
    http.addInternal(
      ADMIN_PREFIX,
      createAdminApi({
        host: functionHost,
        serviceBus,
        timers,
        eventGrid,
        durableStats: () => durable.stats,
        ...(mail ? { mail } : {}),
      }),
    );

    await importEntryPoints(app.entryPoints);
    const problems = functionHost.unsupportedBindings(SUPPORTED_TRIGGERS);
    if (problems.length > 0) {
      throw new Error(
        `the app uses bindings the embedded runtime does not serve:\n  - ${problems.join('\n  - ')}`,
      );
    }
    // An app that asked for HTTP streaming has started its own HTTP endpoint by now.
    const capabilities = (await core.programmingModel?.getCapabilities?.({})) ?? {};
    if (capabilities.HttpUri) http.enableStreaming(capabilities.HttpUri);
    http.loadRoutes();

    await durable.start();
    this.#stops.push(() => durable.stop());
    await serviceBus.start();
    this.#stops.push(() => serviceBus.stop());
    await eventGrid.start(functionHost);
    this.#stops.push(() => eventGrid.stop());
    await timers.start();
    this.#stops.push(() => timers.stop());

    for (const hook of core.hooks('appStart')) {
      await hook({
        hookData: {},
        appHookData: core.appHookData,
        functionAppDirectory: app.directory,
      } as never);
    }
    this.#stops.push(async () => {
      for (const hook of core.hooks('appTerminate')) {
        try {
          await hook({ hookData: {}, appHookData: core.appHookData } as never);
        } catch (error) {
          log.error('an appTerminate hook failed', error);
        }
      }
    });

    const functions = [...functionHost.functions.values()];
    const lines = [
      `cloudjobs embedded runtime for ${app.directory}`,
      `  API         ${http.url}/${settings.routePrefix}`,
      `  storage     blob ${publicEndpoints.blob} (Event Grid proxy), queue ${direct.queue}, table ${direct.table}`,
      `  task hub    ${durable.hubName}`,
      `  batch       ${batchUrl ? `${batchUrl} (local Batch service, account ${process.env.BATCH_ACCOUNT_NAME})` : (process.env.BATCH_ACCOUNT_URL ?? '(none)')}`,
      `  email       ${mail ? `${mail.url} (SMTP catcher; read mail at ${http.url}${ADMIN_PREFIX}/local/mail or in ${path.join(options.home, 'mail')})` : acsEmail ? 'Azure Communication Services' : (process.env.CLOUDJOBS_SMTP_URL?.replace(/\/\/[^@/]*@/, '//***@') ?? '(none)')}`,
      `  functions   ${functions.length}`,
      ...http.describeRoutes().map((r) => `    ${r}`),
      ...functions
        .filter((fn) => fn.triggerType !== 'httptrigger')
        .map((fn) => `    ${fn.name}: ${String(fn.trigger.type)}${describeTrigger(fn.trigger)}`),
    ];
    for (const line of lines) logger.log({ level: 'information', source: 'runtime', message: line });

    this.#info = {
      url: http.url,
      ...(batchUrl ? { batchUrl } : {}),
      ...(mail ? { smtpUrl: mail.url } : {}),
      storage: publicEndpoints,
      connectionString: appConnection,
      hubName: durable.hubName,
      functions: functions.map((fn) => fn.name),
    };
    if (options.readyFile) {
      // Written whole, then renamed, so a reader never sees half of it.
      await writeFile(`${options.readyFile}.tmp`, JSON.stringify(this.#info, null, 2));
      await rename(`${options.readyFile}.tmp`, options.readyFile);
    }
    return this.#info;
  }

  /** Stops everything started, newest first; safe to call more than once. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const stop of this.#stops.reverse()) {
        try {
          await stop();
        } catch (error) {
          this.#logger.log({
            level: 'warning',
            source: 'runtime',
            message: `while stopping: ${describeError(error)}`,
          });
        }
      }
    })();
    return this.#stopping;
  }
}

function describeTrigger(trigger: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof trigger.queueName === 'string') parts.push(`queue ${trigger.queueName}`);
  if (typeof trigger.schedule === 'string') parts.push(`schedule ${trigger.schedule}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

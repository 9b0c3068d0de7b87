import { StorageBindings } from './storage/storageBindings.js';
import { pointDevelopmentStorageAt, settleLocalAppSettings } from './host/appSettings.js';
import type { DeliveryFaults } from './deliveryFaults.js';
import { cpus, totalmem } from 'node:os';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { rename, writeFile } from 'node:fs/promises';
import { describeApp, importEntryPoints, type AppDescription } from './host/appLoader.js';
import { FunctionHost } from './host/functionHost.js';
import { installFunctionsCore, type FunctionsCore } from './host/functionsCore.js';
import { resolveHostSettings, type HostSettings } from './host/hostConfig.js';
import { Logger, parseLogLevel, describeError } from './host/logger.js';
import type { RpcLogLevel } from './host/coreTypes.js';
import { HttpServer } from './http/httpServer.js';
import { staticSite } from './http/staticSite.js';
import { DurableRuntime } from './durable/durableRuntime.js';
import {
  connectionString,
  DEV_ACCOUNT_KEY,
  DEV_ACCOUNT_NAME,
  type StorageEndpoints,
} from './storage/account.js';
import { LocalBatch, type Faults } from './batch/localBatch.js';
import { runtimeStorage, type StorageOption } from './storage/runtimeStorage.js';
import { StorageClients } from './storage/clients.js';
import { ServiceBusEmulator } from './servicebus/serviceBus.js';
import { EventGridEmulator } from './eventgrid/eventGrid.js';
import { TimerScheduler } from './timers/timerScheduler.js';
import { createAdminApi, ADMIN_PREFIX } from './adminApi.js';
import { SmtpCatcher } from './email/smtpCatcher.js';

export type { StorageOption };

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
  /** Refuse to start an app with a binding the runtime does not serve, instead of disabling its function. */
  strict?: boolean;
  readyFile?: string;
  /**
   * A built static site served at `/` beside the API, as Azure Static Web Apps serves one with a
   * linked Functions backend: `dist/web` of the app when it has one, unless given or false.
   */
  web?: string | false;
  logWrite?: (line: string) => void;
  /**
   * A part the runtime cannot go on without has failed for good (its Azurite exited on its own);
   * the caller should stop the runtime.
   */
  onFailure?: (what: string, error: Error) => void;
}

const SUPPORTED_TRIGGERS = new Set([
  'httptrigger',
  'orchestrationtrigger',
  'activitytrigger',
  'entitytrigger',
  'servicebustrigger',
  'eventgridtrigger',
  'timertrigger',
  'queuetrigger',
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
  /** The origin of the blob endpoint the app and browsers use (the Event Grid proxy before Azurite). */
  #blobOrigin: string | undefined;

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

  /** Starts the pieces in the order they depend on each other, each stopped in reverse on failure. */
  async #start(): Promise<RuntimeInfo> {
    const options = this.#options;
    const app = await describeApp(options.appDir);
    const settings: HostSettings = resolveHostSettings(app.hostJson, cpus().length);
    const logger = this.#hostLogger(settings);
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
    const http = await this.#startHttp(app, settings, functionHost, logger);

    // Then storage: everything else keeps its state there.
    const { direct, blobPort } = await this.#startStorage(logger);
    const internal = new StorageClients(connectionString(direct));
    await allowBrowserUploads(internal, direct.blob);
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
    this.#blobOrigin = new URL(eventGrid.blobEndpoint).origin;
    const appConnection = connectionString(publicEndpoints);
    pointDevelopmentStorageAt(appConnection);

    // Then the stand-ins the app's settings point at, unless they point at real services.
    const batchUrl = await this.#startLocalBatch(logger);
    const mail = await this.#startMail(logger);
    settleLocalAppSettings(http.url, options.home);

    const { durable, serviceBus, timers } = this.#emulators(
      app,
      settings,
      functionHost,
      internal,
      http,
      eventGrid,
      mail,
      logger,
    );

    const storageBindings = new StorageBindings({
      host: functionHost,
      settings: settings.queues,
      logger: logger.child('storage'),
    });

    // Then the app: its registrations, then the triggers that call it, then its start hooks.
    await this.#loadApp(app, core, functionHost, http);
    await durable.start();
    this.#stops.push(() => durable.stop());
    await serviceBus.start();
    this.#stops.push(() => serviceBus.stop());
    await eventGrid.start(functionHost);
    this.#stops.push(() => eventGrid.stop());
    await timers.start();
    this.#stops.push(() => timers.stop());
    storageBindings.start();
    this.#stops.push(() => storageBindings.stop());
    await this.#runAppHooks(core, app.directory);

    const functions = [...functionHost.functions.values()];
    this.#announce(logger, {
      directory: app.directory,
      api: `${http.url}/${settings.routePrefix}`,
      site: http.site && `${http.url}/ (from ${path.relative(process.cwd(), http.site.root) || '.'})`,
      storage: `blob ${publicEndpoints.blob} (Event Grid proxy), queue ${direct.queue}, table ${direct.table}`,
      hubName: durable.hubName,
      batchUrl,
      mail: mail && { url: mail.url, reader: `${http.url}${ADMIN_PREFIX}/local/mail` },
      routes: http.describeRoutes(),
      functions,
    });
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

  /** Durable, Service Bus and timers (started once the app has registered), and the admin API over them. */
  #emulators(
    app: AppDescription,
    settings: HostSettings,
    functionHost: FunctionHost,
    internal: StorageClients,
    http: HttpServer,
    eventGrid: EventGridEmulator,
    mail: SmtpCatcher | undefined,
    logger: Logger,
  ): { durable: DurableRuntime; serviceBus: ServiceBusEmulator; timers: TimerScheduler } {
    const options = this.#options;
    const namespace = options.namespace ?? '';
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

    return { durable, serviceBus, timers };
  }

  /** What started, and where: printed once, for the person who ran `npm start`. */
  #announce(
    logger: Logger,
    started: {
      directory: string;
      api: string;
      site: string | undefined;
      storage: string;
      hubName: string;
      batchUrl: string | undefined;
      mail: { url: string; reader: string } | undefined;
      routes: string[];
      functions: Array<{ name: string; triggerType: string; trigger: Record<string, unknown> }>;
    },
  ): void {
    const { mail, batchUrl } = started;
    const email = mail
      ? `${mail.url} (SMTP catcher; read mail at ${mail.reader} or in ${path.join(this.#options.home, 'mail')})`
      : acsEmailConfigured()
        ? 'Azure Communication Services'
        : (process.env.CLOUDJOBS_SMTP_URL?.replace(/\/\/[^@/]*@/, '//***@') ?? '(none)');
    const lines = [
      `cloudjobs embedded runtime for ${started.directory}`,
      `  API         ${started.api}`,
      ...(started.site ? [`  dashboard   ${started.site}`] : []),
      `  storage     ${started.storage}`,
      `  task hub    ${started.hubName}`,
      `  batch       ${batchUrl ? `${batchUrl} (local Batch service, account ${process.env.BATCH_ACCOUNT_NAME})` : (process.env.BATCH_ACCOUNT_URL ?? '(none)')}`,
      `  email       ${email}`,
      `  functions   ${started.functions.length}`,
      ...started.routes.map((r) => `    ${r}`),
      ...started.functions
        .filter((fn) => fn.triggerType !== 'httptrigger')
        .map((fn) => `    ${fn.name}: ${String(fn.trigger.type)}${describeTrigger(fn.trigger)}`),
    ];
    for (const line of lines) logger.log({ level: 'information', source: 'runtime', message: line });
  }

  /** The host's logger, with host.json's per-category levels. */
  #hostLogger(settings: HostSettings): Logger {
    const levels: Record<string, RpcLogLevel> = {};
    for (const [category, value] of Object.entries(settings.logLevels)) {
      const level = parseLogLevel(value);
      if (level && category !== 'default') levels[category] = level;
    }
    return new Logger({
      defaultLevel: this.#options.logLevel ?? parseLogLevel(settings.logLevels.default) ?? 'information',
      categoryLevels: levels,
      ...(this.#options.logWrite ? { write: this.#options.logWrite } : {}),
    });
  }

  async #startHttp(
    app: AppDescription,
    settings: HostSettings,
    functionHost: FunctionHost,
    logger: Logger,
  ): Promise<HttpServer> {
    const limits = app.hostJson.extensions?.http;
    const http = new HttpServer({
      host: this.#options.host,
      port: this.#options.port,
      routePrefix: settings.routePrefix,
      maxBodyBytes: Number(process.env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT ?? 100 * 1024 * 1024),
      ...(limits?.maxConcurrentRequests ? { maxConcurrentRequests: limits.maxConcurrentRequests } : {}),
      ...(limits?.maxOutstandingRequests ? { maxOutstandingRequests: limits.maxOutstandingRequests } : {}),
      functionHost,
      logger: logger.child('http'),
    });
    const site = this.#options.web ?? path.join(app.directory, 'dist', 'web');
    if (site && existsSync(path.join(site, 'index.html'))) {
      // Storage starts after the site is served: its address is looked up as pages are.
      http.serveSite(staticSite(site, { blobOrigin: () => this.#blobOrigin }));
    }
    await http.listen();
    this.#stops.push(() => http.close());
    return http;
  }

  /**
   * Azurite, on the usual ports (or an Azurite already there), with its blob service behind the
   * Event Grid proxy, which takes the public blob port: `direct` are Azurite's own endpoints.
   */
  /** The storage the runtime runs on: an Azurite it starts, or reuses, or one given. */
  async #startStorage(logger: Logger): Promise<{ direct: StorageEndpoints; blobPort: number }> {
    const options = this.#options;
    const storage = await runtimeStorage({
      option: options.storage,
      host: options.host,
      home: options.home,
      ...(options.blobPort !== undefined ? { blobPort: options.blobPort } : {}),
      logger,
      // Nothing works without storage: say so and stop, rather than fail every call for ever.
      onUnexpectedExit: (how) =>
        options.onFailure?.('Azurite, the storage it runs on,', new Error(`exited (${how})`)),
    });
    if (storage.stop) this.#stops.push(storage.stop);
    return { direct: storage.direct, blobPort: storage.blobPort };
  }

  /** The local Batch service, unless the app is configured for a real Batch account. */
  async #startLocalBatch(logger: Logger): Promise<string | undefined> {
    const options = this.#options;
    if (options.batch === false || process.env.BATCH_ACCOUNT_URL) return undefined;
    const localSlots = options.batch?.slots ?? Math.max(2, cpus().length * 2);
    const batch = new LocalBatch({
      host: options.host,
      port: options.batch?.port ?? 10100,
      dataDir:
        options.storage.kind === 'managed' && options.storage.inMemory
          ? path.join(options.home, 'batch-ephemeral')
          : path.join(options.home, 'batch'),
      storage: { accountName: DEV_ACCOUNT_NAME, accountKey: DEV_ACCOUNT_KEY },
      pools: [{ id: 'local', nodes: 1, slotsPerNode: localSlots }],
      ...(options.batch?.faults ? { faults: options.batch.faults } : {}),
      logger: logger.child('batch'),
    });
    await batch.start();
    this.#stops.push(() => batch.stop());
    process.env.BATCH_ACCOUNT_URL = batch.url;
    process.env.BATCH_ACCOUNT_NAME = batch.accountName;
    process.env.BATCH_ACCOUNT_KEY = batch.accountKey;
    process.env.CLOUDJOBS_DEFAULT_POOL ??= 'local';
    if (!process.env.CLOUDJOBS_PRESETS?.trim())
      process.env.CLOUDJOBS_PRESETS = JSON.stringify(localPresets(localSlots));
    return batch.url;
  }

  /**
   * Email goes to a local catcher unless the app is configured with a real mail server, or with
   * Azure Communication Services' email API (the app refuses both at once).
   */
  async #startMail(logger: Logger): Promise<SmtpCatcher | undefined> {
    const options = this.#options;
    if (options.smtp === false || process.env.CLOUDJOBS_SMTP_URL?.trim() || acsEmailConfigured())
      return undefined;
    const mail = new SmtpCatcher({
      host: options.host,
      port: options.smtp?.port ?? 2525,
      dir: path.join(options.home, 'mail'),
      logger: logger.child('smtp'),
    });
    await mail.start();
    this.#stops.push(() => mail.stop());
    process.env.CLOUDJOBS_SMTP_URL = mail.url;
    return mail;
  }

  /** Imports the app, so its `app.*` calls register, and refuses bindings this runtime does not serve. */
  async #loadApp(
    app: AppDescription,
    core: FunctionsCore,
    functionHost: FunctionHost,
    http: HttpServer,
  ): Promise<void> {
    await importEntryPoints(app.entryPoints);
    const problems = functionHost.unsupportedBindings(SUPPORTED_TRIGGERS);
    if (problems.length > 0 && this.#options.strict) {
      throw new Error(
        `the app uses bindings the embedded runtime does not serve:\n  - ${problems.map((p) => `function "${p.fn}": ${p.problem}`).join('\n  - ')}`,
      );
    }
    // The rest of the app runs: a function with a binding out of scope is kept from running, and
    // says why, here and to whoever invokes it.
    const log = this.#logger.child('runtime');
    for (const fn of new Set(problems.map((p) => p.fn))) {
      const why = problems
        .filter((p) => p.fn === fn)
        .map((p) => p.problem)
        .join('; ');
      functionHost.disable(fn, why);
      log.warn(`function "${fn}" is disabled: ${why} (--strict refuses to start instead)`);
    }
    // An app that asked for HTTP streaming has started its own HTTP endpoint by now.
    const capabilities = (await core.programmingModel?.getCapabilities?.({})) ?? {};
    if (capabilities.HttpUri) http.enableStreaming(capabilities.HttpUri);
    http.loadRoutes();
  }

  /** The app's appStart hooks now, its appTerminate hooks when the runtime stops. */
  async #runAppHooks(core: FunctionsCore, directory: string): Promise<void> {
    for (const hook of core.hooks('appStart')) {
      await hook({ hookData: {}, appHookData: core.appHookData, functionAppDirectory: directory } as never);
    }
    const log = this.#logger.child('runtime');
    this.#stops.push(async () => {
      for (const hook of core.hooks('appTerminate')) {
        try {
          await hook({ hookData: {}, appHookData: core.appHookData } as never);
        } catch (error) {
          log.error('an appTerminate hook failed', error);
        }
      }
    });
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

function acsEmailConfigured(): boolean {
  return Boolean(
    process.env.CLOUDJOBS_ACS_EMAIL_CONNECTION_STRING?.trim() ||
    process.env.CLOUDJOBS_ACS_EMAIL_ENDPOINT?.trim(),
  );
}

function describeTrigger(trigger: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof trigger.queueName === 'string') parts.push(`queue ${trigger.queueName}`);
  if (typeof trigger.schedule === 'string') parts.push(`schedule ${trigger.schedule}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/**
 * Presets on the local pool, one machine whose CPUs and memory its task slots share: a slot, half
 * the machine, all of it.
 */
function localPresets(slots: number): Array<Record<string, unknown>> {
  const cpuCount = cpus().length;
  const memoryGiB = totalmem() / 2 ** 30;
  const share = (n: number) => ({
    slots: n,
    cpus: Number(((cpuCount * n) / slots).toFixed(2)),
    memoryGiB: Number(((memoryGiB * n) / slots).toFixed(1)),
  });
  return [
    { name: 'small', description: 'one task slot of this machine', pool: 'local', ...share(1) },
    ...(slots >= 4
      ? [
          {
            name: 'medium',
            description: 'half of this machine',
            pool: 'local',
            ...share(Math.floor(slots / 2)),
          },
        ]
      : []),
    { name: 'large', description: 'all of this machine', pool: 'local', ...share(slots) },
  ];
}

/**
 * Lets the dashboard's pages send files straight to storage with an upload URL, as the Azure
 * deployment lets its dashboard's origin (a CORS rule). Only a loopback emulator is touched, and
 * with one rule for any origin: runtimes sharing an Azurite must not take each other's out.
 */
async function allowBrowserUploads(storage: StorageClients, blobEndpoint: string): Promise<void> {
  const host = new URL(blobEndpoint).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') return;
  const rule = {
    allowedOrigins: '*',
    allowedMethods: 'PUT,GET,HEAD,OPTIONS',
    allowedHeaders: '*',
    exposedHeaders: '*',
    maxAgeInSeconds: 3600,
  };
  const current = await storage.blobs.getProperties();
  if (current.cors?.some((r) => r.allowedOrigins === '*' && r.allowedMethods.includes('PUT'))) return;
  await storage.blobs.setProperties({ cors: [rule] });
}

import type { FunctionHost } from '../host/functionHost.js';
import type { HostSettings } from '../host/hostConfig.js';
import type { ComponentLogger } from '../host/logger.js';
import type { HttpServer } from '../http/httpServer.js';
import type { StorageClients } from '../storage/clients.js';
import { LeaseKeeper, WorkQueue } from '../storage/workQueue.js';
import { TaskHubClient } from './client.js';
import { ActivityDispatcher } from './activityDispatcher.js';
import { OrchestrationDispatcher } from './orchestrationDispatcher.js';
import { clientBindingData, createManagementApi, DURABLE_PREFIX } from './managementApi.js';
import {
  parseControlEnvelope,
  parseWorkItemBundle,
  type ControlEnvelope,
  type WorkItemBundle,
} from './messages.js';
import { TaskHubLease } from './taskHubLease.js';
import { TaskHubStore } from './taskHubStore.js';

export interface DurableRuntimeOptions {
  host: FunctionHost;
  settings: HostSettings['durable'];
  storage: StorageClients;
  http: HttpServer;
  logger: ComponentLogger;
}

/**
 * Durable Functions on the embedded runtime: a task hub in Azure Storage (tables, queues, blobs),
 * the orchestration and activity dispatchers, the HTTP management API, and the `durableClient`
 * input binding that points clients at it.
 */
export class DurableRuntime {
  readonly hubName: string;
  readonly store: TaskHubStore;
  readonly client: TaskHubClient;
  readonly #orchestrations: OrchestrationDispatcher;
  readonly #activities: ActivityDispatcher;
  readonly #leases: LeaseKeeper;
  readonly #ownership: TaskHubLease;
  readonly #queues: WorkQueue<unknown>[];

  constructor(options: DurableRuntimeOptions) {
    const { settings, storage, logger, host, http } = options;
    this.hubName = settings.hubName;
    const lower = settings.hubName.toLowerCase();
    const payloads = storage.container(`${lower}-largemessages`);
    this.store = new TaskHubStore(
      storage.table(`${settings.hubName}Instances`),
      storage.table(`${settings.hubName}History`),
      payloads,
    );
    this.#leases = new LeaseKeeper(logger);
    this.#ownership = new TaskHubLease(storage.container(`${lower}-leases`), settings.hubName, logger);
    const control = Array.from(
      { length: settings.partitionCount },
      (_, i) =>
        new WorkQueue<ControlEnvelope>({
          queue: storage.queue(`${lower}-control-${String(i).padStart(2, '0')}`),
          payloads,
          leaseMs: settings.controlQueueVisibilityTimeoutMs,
          parse: parseControlEnvelope,
          logger,
        }),
    );
    const workItems = new WorkQueue<WorkItemBundle>({
      queue: storage.queue(`${lower}-workitems`),
      payloads,
      leaseMs: settings.workItemQueueVisibilityTimeoutMs,
      parse: parseWorkItemBundle,
      logger,
    });
    this.#queues = [...control, workItems] as WorkQueue<unknown>[];
    this.#orchestrations = new OrchestrationDispatcher({
      host,
      store: this.store,
      control,
      leases: this.#leases,
      maxConcurrent: settings.maxConcurrentOrchestratorFunctions,
      batchSize: settings.controlQueueBatchSize,
      maxPollIntervalMs: settings.maxQueuePollingIntervalMs,
      logger,
      sendActivities: (items) => this.#activities.send(items),
    });
    this.#activities = new ActivityDispatcher({
      host,
      queue: workItems,
      leases: this.#leases,
      maxConcurrent: settings.maxConcurrentActivityFunctions,
      maxPollIntervalMs: settings.maxQueuePollingIntervalMs,
      logger,
      sendEvents: (instanceId, executionId, events) =>
        this.#orchestrations.sendEvents(instanceId, executionId, events),
    });
    this.client = new TaskHubClient(this.store, this.#orchestrations, host);

    const clientData = () => ({ string: JSON.stringify(clientBindingData(http.url, this.hubName)) });
    host.setInputProvider('durableClient', clientData);
    host.setInputProvider('orchestrationClient', clientData);
    http.addInternal(
      DURABLE_PREFIX,
      createManagementApi(this.client, { baseUrl: () => http.url, hubName: this.hubName }),
    );
  }

  /** Orchestrator replays and their cost since start. */
  get stats(): { episodes: number; replayMs: number; historyEventsReplayed: number } {
    return { ...this.#orchestrations.stats };
  }

  async start(): Promise<void> {
    await this.#ownership.acquire();
    await this.store.ensure();
    await Promise.all(this.#queues.map((q) => q.ensure()));
    this.#orchestrations.start();
    this.#activities.start();
  }

  async stop(): Promise<void> {
    await this.#orchestrations.stop();
    await this.#activities.stop();
    this.#leases.stop();
    await this.#ownership.release();
  }
}

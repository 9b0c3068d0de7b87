/* eslint-disable @typescript-eslint/require-await -- fakes keep the async signatures of what they stand in for, so a throw becomes a rejection as it does in the real store */
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeEach } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import type { ComputeBackend, PoolInfo, PoolSpec } from '../../shared/compute/compute.js';
import { setServices } from '../../shared/composition.js';
import { noTelemetry } from '../../shared/telemetry.js';
import { InboxApi } from '../../shared/jobs/inboxApi.js';
import { JobsApi } from '../../shared/jobs/jobsApi.js';
import { PoolsApi } from '../../shared/jobs/poolsApi.js';
import { SubscriptionsApi } from '../../shared/notifications/subscriptionsApi.js';
import { UserFiles } from '../../shared/jobs/userFiles.js';
import { Secrets } from '../../shared/jobs/secrets.js';
import { FileSecrets } from '../../shared/adapters/fileSecrets.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobContainer } from './memoryBlobs.js';
import type { JobOrchestrations } from '../../shared/adapters/durableOrchestrations.js';
import type { JobFiles } from '../../shared/jobs/jobFiles.js';
import type { JobCleanup } from '../../shared/jobs/jobCleanup.js';
import type { InboxIntake } from '../../shared/jobs/inboxIntake.js';
import type { JobRunner } from '../../shared/jobs/jobRunner.js';
import type { JobSignal } from '../../shared/orchestration/signals.js';
import { StatusRecorder } from '../../shared/jobs/statusRecorder.js';
import type { TaskAdditions } from '../../shared/jobs/taskAdditions.js';
import { JobControls } from '../../shared/jobs/jobControls.js';
import { TaskSignals } from '../../shared/jobs/taskSignals.js';
import { JobFeeds } from '../../shared/jobs/jobFeeds.js';
import { JobStreams } from '../../shared/jobs/jobStreams.js';
import { OwnerStreams } from '../../shared/jobs/ownerStreams.js';
import { MemoryDeliveryStore, MemoryJobStore, MemorySubscriptionStore } from './memoryStores.js';
import { Notifier } from '../../shared/notifications/notifier.js';

export const ALICE = 'alice-token-0123456789';
export const BOB = 'bob-token-0123456789';
export const OPS = 'ops-token-0123456789';

/** Pools in memory: the only part of the compute backend these handlers reach. */
export class MemoryPools implements Pick<
  ComputeBackend,
  'listPools' | 'getPool' | 'createPool' | 'resizePool' | 'deletePool'
> {
  readonly pools = new Map<string, PoolInfo>();
  async listPools() {
    return [...this.pools.values()];
  }
  async getPool(id: string) {
    return this.pools.get(id);
  }
  async createPool(spec: PoolSpec) {
    this.pools.set(spec.id, {
      id: spec.id,
      vmSize: spec.vmSize,
      state: 'active',
      allocationState: 'steady',
      dedicatedNodes: spec.dedicatedNodes,
      targetDedicatedNodes: spec.dedicatedNodes,
      resizeErrors: [],
      lowPriorityNodes: 0,
      targetLowPriorityNodes: 0,
      slotsPerNode: spec.slotsPerNode ?? 1,
    });
  }
  async resizePool() {}
  async deletePool(id: string) {
    this.pools.delete(id);
  }
}

/** Orchestrations in memory: the handlers only start them and signal them. */
export class MemoryOrchestrations implements JobOrchestrations {
  readonly started: string[] = [];
  readonly raised: Array<{ jobId: string; signal: JobSignal }> = [];
  async start(jobId: string) {
    if (!this.started.includes(jobId)) this.started.push(jobId);
  }
  async raise(jobId: string, signal: JobSignal) {
    this.raised.push({ jobId, signal });
  }
  async state(jobId: string) {
    return this.started.includes(jobId) ? ('running' as const) : ('missing' as const);
  }
  async running() {
    return false;
  }
  async purge() {
    return false;
  }
}
/** What the handlers' services hold, fresh for each test. */
export interface HandlerWorld {
  store: MemoryJobStore;
  pools: MemoryPools;
  orchestrations: MemoryOrchestrations;
  uploads: MemoryBlobContainer;
  /** Where the test's secrets are kept (a file, as on the embedded runtime). */
  secretsFile: string;
}

const secretsDir = mkdtempSync(join(tmpdir(), 'cloudjobs-secrets-'));
let secretsFiles = 0;

/**
 * Wires the app's services on in-memory stores for the HTTP handlers, fresh before each test of
 * the calling file, and forgets them after: the world the handlers under test act on.
 */
export function useHandlerServices(): HandlerWorld {
  const world = {} as HandlerWorld;
  beforeEach(() => wire(world));
  afterAll(() => {
    setServices(undefined);
    rmSync(secretsDir, { recursive: true, force: true });
  });
  return world;
}

function wire(world: HandlerWorld): void {
  world.orchestrations = new MemoryOrchestrations();
  world.uploads = new MemoryBlobContainer('uploads');
  const config = loadConfig({
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    BATCH_ACCOUNT_URL: 'http://127.0.0.1:1',
    CLOUDJOBS_API_TOKENS: `alice=${ALICE},bob=${BOB},ops:admin=${OPS}`,
    CLOUDJOBS_MAX_BODY_BYTES: '4096',
  });
  const store = (world.store = new MemoryJobStore());
  const pools = (world.pools = new MemoryPools());
  const orchestrations = world.orchestrations;
  const uploads = world.uploads;
  world.secretsFile = join(secretsDir, `secrets-${++secretsFiles}.json`);
  const secrets = new Secrets(new FileSecrets(world.secretsFile));
  const jobs = new JobsApi({
    store,
    limits: config.limits,
    defaultPool: 'cpu',
    defaultLogsContainer: 'job-logs',
    secrets,
  });
  const subscriptionStore = new MemorySubscriptionStore();
  const deliveries = new MemoryDeliveryStore();
  setServices({
    config,
    telemetry: noTelemetry,
    healthProbes: [],
    compute: pools as unknown as ComputeBackend,
    store,
    jobs,
    pools: new PoolsApi(pools as unknown as ComputeBackend),
    subscriptions: new SubscriptionsApi({ store: subscriptionStore, deliveries, jobs }),
    notifier: new Notifier({
      jobs: store,
      subscriptions: subscriptionStore,
      deliveries,
      webhooks: { post: async () => ({ outcome: 'delivered', statusCode: 204, durationMs: 1 }) },
      settings: { retryScheduleSeconds: [1], attemptTimeoutMs: 1000, backstopMs: 60_000 },
    }),
    inbox: new InboxApi(
      {
        uploadUrl: async (blobName, expiresOn) => ({
          url: `https://acct.blob.core.windows.net/job-inbox/${blobName}?sig=x`,
          container: 'job-inbox',
          blobName,
          expiresOn: expiresOn.toISOString(),
        }),
      },
      15,
    ),
    userFiles: new UserFiles({
      container: uploads,
      signer: {
        uploadUrl: async (blobName, expiresOn) => ({
          url: `https://acct.blob.core.windows.net/uploads/${blobName}?sig=x`,
          container: 'uploads',
          blobName,
          expiresOn: expiresOn.toISOString(),
        }),
      },
      lifetimeMinutes: 60,
    }),
    secrets,
    // The HTTP handlers under test start orchestrations; the rest runs in activities, not here.
    orchestrations: () => orchestrations,
    statuses: new StatusRecorder(store),
    signals: new TaskSignals({
      statuses: new StatusRecorder(store),
      store,
      compute: pools as unknown as ComputeBackend,
      graph: () => Promise.reject(new Error('no graphs in handler tests')),
    }),
    streams: new JobStreams({
      job: (caller, id) => jobs.job(caller, id),
      store,
      feeds: new JobFeeds({ store, pollMs: 50 }),
      heartbeatMs: 1000,
      maxStreamMs: 5000,
    }),
    ownerStreams: new OwnerStreams({
      store,
      heartbeatMs: 1000,
      maxStreamMs: 300,
      pollMs: 20,
      progressMs: 100,
    }),
    runner: undefined as unknown as JobRunner,
    additions: undefined as unknown as TaskAdditions,
    controls: new JobControls({ jobs, store }),
    files: undefined as unknown as JobFiles,
    cleanup: undefined as unknown as JobCleanup,
    intake: undefined as unknown as InboxIntake,
    ensureContainers: () => Promise.resolve(),
  });
}

export function request(
  method: string,
  path: string,
  token?: string,
  body?: string,
  headers: Record<string, string> = {},
): HttpRequest {
  return new HttpRequest({
    method,
    url: `http://localhost:7071/api${path}`,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: { string: body } } : {}),
    params: {
      ...Object.fromEntries([...path.matchAll(/\/jobs\/([^/?]+)/g)].map((m) => ['id', m[1]!])),
      ...(/^\/files\/(?!upload-url)/.test(path)
        ? { path: decodeURIComponent(path.slice(7).split('?')[0]!) }
        : {}),
      ...(/^\/secrets\/./.test(path) ? { name: decodeURIComponent(path.slice('/secrets/'.length)) } : {}),
    },
  });
}

export const context = () =>
  new InvocationContext({ invocationId: 'unit', functionName: 'test', logHandler: () => undefined });
export const bodyOf = (response: HttpResponseInit) =>
  (response.jsonBody ?? JSON.parse(response.body as string)) as Record<string, unknown> & {
    errors?: Array<{ path: string }>;
  };

export const text = async (body: unknown) => {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString();
};

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BlobServiceClient, ContainerSASPermissions } from '@azure/storage-blob';
import { AzureBatch } from '../../shared/adapters/azureBatch.js';
import { LocalBatch, type Faults } from '../../infra/local/batch/localBatch.js';
import { Logger } from '../../infra/local/host/logger.js';
import { DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME } from '../../infra/local/storage/account.js';
import { waitFor } from './waitFor.js';

export interface LocalBatchFixture {
  batch: LocalBatch;
  adapter: AzureBatch;
  dataDir: string;
  /** Creates a pool of one node with `slotsPerNode` slots and waits until it is steady. */
  readyPool(id: string, slotsPerNode: number): Promise<void>;
  /** Restarts the service on the same data directory (and a new port), as after a stop. */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** The local Batch service in process, with its own data directory, and the adapter pointed at it. */
export async function startLocalBatch(
  options: {
    faults?: Partial<Faults>;
    activeJobQuota?: number;
    adapter?: { baseDelayMs?: number; maxAttempts?: number };
  } = {},
): Promise<LocalBatchFixture> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cloudjobs-batch-'));
  const logger = new Logger({ defaultLevel: 'warning' }).child('batch');
  const make = () =>
    new LocalBatch({
      host: '127.0.0.1',
      port: 0,
      dataDir,
      storage: { accountName: DEV_ACCOUNT_NAME, accountKey: DEV_ACCOUNT_KEY },
      resizeDelayMs: 50,
      ...(options.activeJobQuota ? { activeJobQuota: options.activeJobQuota } : {}),
      ...(options.faults ? { faults: options.faults } : {}),
      logger,
    });
  const adapterFor = (batch: LocalBatch) =>
    new AzureBatch({
      accountUrl: batch.url,
      credentials: { kind: 'sharedKey', accountName: batch.accountName, accountKey: batch.accountKey },
      baseDelayMs: options.adapter?.baseDelayMs ?? 20,
      ...(options.adapter?.maxAttempts ? { maxAttempts: options.adapter.maxAttempts } : {}),
    });
  const fixture: LocalBatchFixture = {
    batch: make(),
    adapter: undefined as unknown as AzureBatch,
    dataDir,
    async readyPool(id, slotsPerNode) {
      await fixture.adapter.createPool({ id, vmSize: 'standard_d2s_v3', dedicatedNodes: 1, slotsPerNode });
      await waitFor(async () =>
        (await fixture.adapter.getPool(id))?.allocationState === 'steady' ? true : undefined,
      );
    },
    async restart() {
      await fixture.batch.stop();
      fixture.batch = make();
      await fixture.batch.start();
      fixture.adapter = adapterFor(fixture.batch);
    },
    async dispose() {
      await fixture.batch.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  await fixture.batch.start();
  fixture.adapter = adapterFor(fixture.batch);
  return fixture;
}

/** A container in the shared Azurite and a read-write SAS URL for it, as the app would hand to Batch. */
export async function sasContainer(
  connectionString: string,
  name: string,
): Promise<{ url: string; client: ReturnType<BlobServiceClient['getContainerClient']> }> {
  const client = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(name);
  await client.createIfNotExists();
  const url = await client.generateSasUrl({
    permissions: ContainerSASPermissions.parse('racwl'),
    expiresOn: new Date(Date.now() + 3600_000),
  });
  return { url, client };
}

import { hostname } from 'node:os';
import type { BlobLeaseClient, ContainerClient } from '@azure/storage-blob';
import type { ComponentLogger } from '../host/logger.js';

const LEASE_SECONDS = 15;
const RENEW_EVERY_MS = 5000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One runtime per task hub: a blob lease, as the Azure Storage provider uses leases to give each
 * control queue one owner. A lease left by a runtime that was killed on this machine is broken at
 * once (its process is gone) rather than waited out.
 */
export class TaskHubLease {
  #lease: BlobLeaseClient | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly container: ContainerClient,
    private readonly hubName: string,
    private readonly logger: ComponentLogger,
  ) {}

  async acquire(): Promise<void> {
    await this.container.createIfNotExists();
    const blob = this.container.getBlockBlobClient('owner');
    if (!(await blob.exists())) {
      await blob.upload('', 0).catch((error: { statusCode?: number }) => {
        // Another runtime created it first; the lease decides who owns the hub.
        if (error.statusCode !== 412 && error.statusCode !== 409) throw error;
      });
    }
    const lease = blob.getBlobLeaseClient();
    try {
      await lease.acquireLease(LEASE_SECONDS);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 409) throw error;
      const metadata = (await blob.getProperties()).metadata ?? {};
      const pid = Number(metadata.pid);
      if (metadata.host === hostname() && Number.isInteger(pid) && !alive(pid)) {
        this.logger.info(
          `task hub ${this.hubName} was held by process ${pid}, which is gone; taking it over`,
        );
        await lease.breakLease(0);
        await lease.acquireLease(LEASE_SECONDS);
      } else {
        throw new Error(
          `task hub ${this.hubName} is in use by another runtime (process ${metadata.pid ?? '?'} on ${metadata.host ?? '?'}); ` +
            'stop it, or give this one its own --namespace or host.json hubName',
        );
      }
    }
    await blob.setMetadata(
      { pid: String(process.pid), host: hostname(), since: new Date().toISOString() },
      { conditions: { leaseId: lease.leaseId } },
    );
    this.#lease = lease;
    this.#timer = setInterval(() => {
      lease.renewLease().catch((error: unknown) => {
        this.logger.error(
          `lost the lease on task hub ${this.hubName}; another runtime may take it over`,
          error,
        );
      });
    }, RENEW_EVERY_MS);
    this.#timer.unref();
  }

  async release(): Promise<void> {
    clearInterval(this.#timer);
    await this.#lease?.releaseLease().catch(() => undefined);
    this.#lease = undefined;
  }
}

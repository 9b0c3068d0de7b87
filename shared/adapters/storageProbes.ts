import type { HealthProbe } from '../health.js';
import type { StorageAccount } from './storageAccount.js';

/** Probes that the storage account's table and blob services answer with our credentials. */
export function storageProbes(account: StorageAccount): HealthProbe[] {
  return [
    {
      name: 'tables',
      check: async (abortSignal) => {
        await account.tables.listTables().byPage({ maxPageSize: 1 }).next();
        abortSignal.throwIfAborted();
      },
    },
    {
      name: 'blobs',
      check: async (abortSignal) => {
        // Listing needs only a data role; the service's properties would need an account one.
        await account.blobs.listContainers({ abortSignal }).byPage({ maxPageSize: 1 }).next();
      },
    },
  ];
}

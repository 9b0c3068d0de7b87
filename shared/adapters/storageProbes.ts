import { TableServiceClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import type { HealthProbe } from '../health.js';

/** Probes that the storage account's table and blob services answer with our credentials. */
export function storageProbes(connectionString: string): HealthProbe[] {
  const tables = TableServiceClient.fromConnectionString(connectionString, { allowInsecureConnection: true });
  const blobs = BlobServiceClient.fromConnectionString(connectionString);
  return [
    {
      name: 'tables',
      check: async (abortSignal) => {
        await tables.listTables().byPage({ maxPageSize: 1 }).next();
        abortSignal.throwIfAborted();
      },
    },
    {
      name: 'blobs',
      check: async (abortSignal) => {
        await blobs.getProperties({ abortSignal });
      },
    },
  ];
}

import { TableClient, TableServiceClient } from '@azure/data-tables';
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { BlobServiceClient } from '@azure/storage-blob';
import type { StorageConnection } from '../config.js';

/** Opens one table of the account by name. */
export type TableSource = (name: string) => TableClient;

/**
 * The storage account the app keeps its state in, reached with a connection string or with a
 * Microsoft Entra identity. Every adapter takes its clients from here, so the way the app
 * authenticates is decided once.
 */
export interface StorageAccount {
  readonly blobs: BlobServiceClient;
  readonly tables: TableServiceClient;
  readonly table: TableSource;
}

/**
 * The credential the Functions host would use for the same `AzureWebJobsStorage__*` settings:
 * only the managed identity when `credential` says so, else the default chain (a developer's
 * `az login` included), with the user-assigned identity's client id when one is named.
 */
export function storageCredential(
  connection: Extract<StorageConnection, { kind: 'identity' }>,
): TokenCredential {
  if (connection.credential === 'managedidentity') {
    return connection.clientId
      ? new ManagedIdentityCredential({ clientId: connection.clientId })
      : new ManagedIdentityCredential();
  }
  return new DefaultAzureCredential(
    connection.clientId ? { managedIdentityClientId: connection.clientId } : {},
  );
}

/**
 * Opens the account. With an identity connection, `credential` overrides the one the settings
 * describe (tests pass their own).
 */
export function openStorageAccount(
  connection: StorageConnection,
  credential?: TokenCredential,
): StorageAccount {
  // Azurite speaks http; Azure always answers https, so allowing http changes nothing there.
  const tableOptions = { allowInsecureConnection: true };
  if (connection.kind === 'connectionString') {
    const { connectionString } = connection;
    return {
      blobs: BlobServiceClient.fromConnectionString(connectionString),
      tables: TableServiceClient.fromConnectionString(connectionString, tableOptions),
      table: (name) => TableClient.fromConnectionString(connectionString, name, tableOptions),
    };
  }
  const token = credential ?? storageCredential(connection);
  return {
    blobs: new BlobServiceClient(connection.blobServiceUri, token),
    tables: new TableServiceClient(connection.tableServiceUri, token, tableOptions),
    table: (name) => new TableClient(connection.tableServiceUri, name, token, tableOptions),
  };
}

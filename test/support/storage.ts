import { openStorageAccount, type TableSource } from '../../shared/adapters/storageAccount.js';

/** The tables of the account a connection string (Azurite's) names. */
export const tablesOf = (connectionString: string): TableSource =>
  openStorageAccount({ kind: 'connectionString', connectionString }).table;

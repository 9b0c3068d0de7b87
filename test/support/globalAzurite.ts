import type { TestProject } from 'vitest/node';
import { connectionString } from '../../infra/local/storage/account.js';
import { startAzurite } from '../../infra/local/storage/azurite.js';
import { Logger } from '../../infra/local/host/logger.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the Azurite this test run shares (direct endpoints, in memory). */
    azurite: string;
  }
}

/** One in-memory Azurite on free ports for the whole run; tests isolate by unique names. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const logger = new Logger({ defaultLevel: 'warning' }).child('azurite');
  const azurite = await startAzurite({ host: '127.0.0.1', blobPort: 0, queuePort: 0, tablePort: 0, logger });
  project.provide('azurite', connectionString(azurite.endpoints));
  return () => azurite.stop();
}

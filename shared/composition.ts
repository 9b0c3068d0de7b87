import { DefaultAzureCredential } from '@azure/identity';
import { loadConfig, type AppConfig } from './config.js';
import type { ComputeBackend } from './compute/compute.js';
import type { HealthProbe } from './health.js';
import { AzureBatch } from './adapters/azureBatch.js';
import { storageProbes } from './adapters/storageProbes.js';

/** The app's dependencies, wired once per process from the configuration. */
export interface Services {
  config: AppConfig;
  healthProbes: HealthProbe[];
  compute: ComputeBackend;
}

let services: Services | undefined;

/** The composition root: the one place adapters are chosen and connected. */
export function getServices(): Services {
  if (!services) {
    const config = loadConfig();
    const batch = config.batch;
    const compute = new AzureBatch({
      accountUrl: batch.accountUrl,
      credentials: batch.sharedKey
        ? { kind: 'sharedKey', ...batch.sharedKey }
        : { kind: 'entra', credential: new DefaultAzureCredential() },
      submitConcurrency: batch.submitConcurrency,
    });
    services = {
      config,
      healthProbes: [
        ...storageProbes(config.storageConnectionString),
        { name: 'batch', check: (signal) => compute.ping(signal) },
      ],
      compute,
    };
  }
  return services;
}

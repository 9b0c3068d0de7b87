import { loadConfig, type AppConfig } from './config.js';
import type { HealthProbe } from './health.js';
import { storageProbes } from './adapters/storageProbes.js';

/** The app's dependencies, wired once per process from the configuration. */
export interface Services {
  config: AppConfig;
  healthProbes: HealthProbe[];
}

let services: Services | undefined;

/** The composition root: the one place adapters are chosen and connected. */
export function getServices(): Services {
  if (!services) {
    const config = loadConfig();
    services = { config, healthProbes: storageProbes(config.storageConnectionString) };
  }
  return services;
}

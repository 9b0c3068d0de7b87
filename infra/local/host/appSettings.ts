import path from 'node:path';
import { isDevelopmentStorage } from '../storage/account.js';

/** The app reaches storage where the runtime put it: every `UseDevelopmentStorage=true` setting, too. */
export function pointDevelopmentStorageAt(appConnection: string): void {
  const storageSetting = process.env.AzureWebJobsStorage;
  if (storageSetting === undefined || isDevelopmentStorage(storageSetting))
    process.env.AzureWebJobsStorage = appConnection;
  for (const [key, value] of Object.entries(process.env)) {
    if (isDevelopmentStorage(value)) process.env[key] = appConnection;
  }
}

/**
 * The settings App Service and the deployment would give the app, filled in for one machine
 * where the app's own settings leave them unset: its public URL, the host name, and the local
 * stand-ins' relaxations.
 */
export function settleLocalAppSettings(url: string, home: string): void {
  // On one machine a webhook receiver is on this machine: let a newcomer try it (Azure: no).
  process.env.CLOUDJOBS_WEBHOOK_ALLOW_LOOPBACK ??= 'true';
  process.env.CLOUDJOBS_WEBHOOK_ALLOW_HTTP ??= 'true';
  if (!process.env.CLOUDJOBS_PUBLIC_URL?.trim()) process.env.CLOUDJOBS_PUBLIC_URL = url;
  // Users' secrets stand in for Key Vault in a file of the state directory, unless a vault is named.
  if (!process.env.CLOUDJOBS_KEY_VAULT_URL?.trim() && !process.env.CLOUDJOBS_SECRETS_FILE?.trim()) {
    process.env.CLOUDJOBS_SECRETS_FILE = path.join(home, 'secrets.json');
  }
  process.env.WEBSITE_HOSTNAME = new URL(url).host;
  process.env.FUNCTIONS_WORKER_RUNTIME ??= 'node';
  process.env.AZURE_FUNCTIONS_ENVIRONMENT ??= 'Development';
}

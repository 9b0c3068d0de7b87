import path from 'node:path';
import type { Logger } from '../host/logger.js';
import { accountUrl, type StorageEndpoints } from './account.js';
import { probeStorage, startAzurite } from './azurite.js';

/** How the runtime reaches storage: an Azurite it runs, or one already running elsewhere. */
export type StorageOption =
  | { kind: 'managed'; blobPort: number; queuePort: number; tablePort: number; inMemory: boolean }
  | { kind: 'external'; endpoints: StorageEndpoints };

/** The storage a runtime runs on: where to reach it, the blob port to serve, how to stop it. */
export interface RuntimeStorage {
  direct: StorageEndpoints;
  /** The port of the runtime's own blob endpoint (the Event Grid proxy); 0 picks one. */
  blobPort: number;
  /** Stops the Azurite the runtime started, if it started one. */
  stop?: () => Promise<void>;
}

/**
 * Storage for a runtime: the endpoints given; or, managed, an Azurite already on the usual ports
 * (reused, with a warning), else one started with data under the state directory. Ports held by
 * anything but a complete Azurite are refused.
 */
export async function runtimeStorage(options: {
  option: StorageOption;
  host: string;
  home: string;
  blobPort?: number;
  logger: Logger;
  onUnexpectedExit: (how: string) => void;
}): Promise<RuntimeStorage> {
  const { option, host, logger } = options;
  if (option.kind !== 'managed') return { direct: option.endpoints, blobPort: options.blobPort ?? 0 };
  const { blobPort: publicBlob, queuePort, tablePort } = option;
  const probes = await Promise.all(
    [publicBlob, queuePort, tablePort].map((port) => probeStorage(`http://${host}:${port}/`)),
  );
  if (probes.every((p) => p === 'azurite')) {
    // Someone's Azurite already has the usual ports: use it. Writes made straight to it skip
    // the proxy and raise no Event Grid events, so the proxy takes another port.
    logger
      .child('runtime')
      .warn(
        `reusing the Azurite already on ports ${publicBlob}-${tablePort}; blob events are raised only for writes ` +
          "through the runtime's blob endpoint (below), not for writes made straight to Azurite",
      );
    return {
      direct: {
        blob: accountUrl(host, publicBlob),
        queue: accountUrl(host, queuePort),
        table: accountUrl(host, tablePort),
      },
      blobPort: options.blobPort ?? 0,
    };
  }
  const taken = [publicBlob, queuePort, tablePort].filter((_, i) => probes[i] !== 'none');
  if (taken.length > 0) {
    throw new Error(
      `storage port(s) ${taken.join(', ')} are in use by something other than a complete Azurite; ` +
        'stop it or choose other ports',
    );
  }
  const azurite = await startAzurite({
    host,
    blobPort: 0,
    queuePort,
    tablePort,
    ...(option.inMemory ? {} : { location: path.join(options.home, 'azurite') }),
    logger: logger.child('azurite'),
    onUnexpectedExit: options.onUnexpectedExit,
  });
  return { direct: azurite.endpoints, blobPort: options.blobPort ?? publicBlob, stop: () => azurite.stop() };
}

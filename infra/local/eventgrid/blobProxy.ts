import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { ComponentLogger } from '../host/logger.js';
import type { StorageClients } from '../storage/clients.js';
import { DEV_ACCOUNT_NAME } from '../storage/account.js';
import { listen } from '../util/listen.js';
import type { EventGridEvent } from './events.js';

const TOPIC = `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/cloudjobs-local/providers/Microsoft.Storage/storageAccounts/${DEV_ACCOUNT_NAME}`;

export interface WriteInfo {
  api: 'PutBlob' | 'PutBlockList' | 'CopyBlob';
  container: string;
  blob: string;
}

/** Which writes raise BlobCreated, as Azure Storage raises it: Put Blob, Put Block List, Copy Blob. */
export function classifyWrite(
  method: string,
  url: URL,
  headers: http.IncomingHttpHeaders,
): WriteInfo | undefined {
  if (method !== 'PUT') return undefined;
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  if (segments.length < 3) return undefined;
  const [, container, ...blobParts] = segments;
  let blob: string;
  try {
    blob = blobParts.map(decodeURIComponent).join('/');
  } catch {
    return undefined;
  }
  const comp = url.searchParams.get('comp');
  let api: WriteInfo['api'] | undefined;
  if (comp === null) api = headers['x-ms-copy-source'] ? 'CopyBlob' : 'PutBlob';
  else if (comp === 'blocklist') api = 'PutBlockList';
  if (!api) return undefined;
  return { api, container: decodeURIComponent(container!), blob };
}

export function blobSubject(container: string, blob: string): string {
  return `/blobServices/default/containers/${container}/blobs/${blob}`;
}

export interface BlobProxyOptions {
  host: string;
  port: number;
  /** Azurite's blob account URL, which the proxy forwards to. */
  target: string;
  storage: StorageClients;
  logger: ComponentLogger;
  /** Whether anyone wants events for this subject (cheap; called for every write). */
  wanted: (subject: string) => boolean;
  /** Publishes an event; resolves once it is durably queued. */
  publish: (event: EventGridEvent) => Promise<void>;
}

/**
 * A thin proxy in front of Azurite's blob endpoint that sees each write succeed, as the storage
 * service itself does, and publishes `Microsoft.Storage.BlobCreated` for it. The writer hears of
 * success only once the event is queued, so a crash cannot lose an event for a write that was
 * acknowledged.
 */
export class BlobProxy {
  readonly #options: BlobProxyOptions;
  readonly #target: URL;
  // Idle sockets are dropped well before Azurite would close them (its keep-alive is raised to
  // ten minutes), so a request is never sent on a socket the server is closing.
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 128, timeout: 30_000 });
  #server: http.Server | undefined;
  #endpoint = '';
  #sequence = 0;

  constructor(options: BlobProxyOptions) {
    this.#options = options;
    this.#target = new URL(options.target);
  }

  /** The blob account URL the app and users write to. */
  get endpoint(): string {
    return this.#endpoint;
  }

  async listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      this.#proxy(req, res).catch((error: unknown) => {
        this.#options.logger.error(`proxying ${req.method} ${req.url}`, error);
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
    });
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 70_000;
    this.#server = server;
    const port = await listen(
      server,
      this.#options.port,
      this.#options.host,
      'the blob',
      'stop what is using it or choose other ports with --storage-ports',
    );
    this.#endpoint = `http://${this.#options.host}:${port}/${DEV_ACCOUNT_NAME}`;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    this.#agent.destroy();
  }

  async #proxy(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const classified = classifyWrite(req.method ?? 'GET', url, req.headers);
    const write =
      classified && this.#options.wanted(blobSubject(classified.container, classified.blob))
        ? classified
        : undefined;
    const upstream = http.request({
      host: this.#target.hostname,
      port: this.#target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: this.#target.host },
      agent: this.#agent,
    });
    req.pipe(upstream);
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      upstream.once('response', resolve);
      upstream.once('error', reject);
      req.once('aborted', () => upstream.destroy());
    });
    const status = response.statusCode ?? 502;
    if (write && status >= 200 && status < 300) {
      try {
        await this.#options.publish(await this.#event(write, req, response, url));
      } catch (error) {
        // The write stands but its event could not be queued: report a server error so the
        // client retries the write, which publishes again, rather than lose the event.
        this.#options.logger.error(`could not queue BlobCreated for ${write.container}/${write.blob}`, error);
        response.resume();
        res.writeHead(503, { 'x-ms-error-code': 'ServerBusy' }).end();
        return;
      }
    }
    res.writeHead(status, response.statusMessage, response.headers);
    response.pipe(res);
  }

  async #event(
    write: WriteInfo,
    req: http.IncomingMessage,
    response: http.IncomingMessage,
    url: URL,
  ): Promise<EventGridEvent> {
    let contentType: string;
    let contentLength: number;
    let blobType: string;
    let eTag = String(response.headers.etag ?? '');
    if (write.api === 'PutBlob') {
      contentType = String(
        req.headers['x-ms-blob-content-type'] ?? req.headers['content-type'] ?? 'application/octet-stream',
      );
      blobType = String(req.headers['x-ms-blob-type'] ?? 'BlockBlob');
      contentLength =
        blobType === 'PageBlob'
          ? Number(req.headers['x-ms-blob-content-length'] ?? 0)
          : blobType === 'AppendBlob'
            ? 0
            : Number(req.headers['content-length'] ?? 0);
    } else {
      // For block lists and copies the request does not say what the blob ended up as.
      const properties = await this.#options.storage
        .container(write.container)
        .getBlobClient(write.blob)
        .getProperties();
      contentType = properties.contentType ?? 'application/octet-stream';
      contentLength = properties.contentLength ?? 0;
      blobType = properties.blobType ?? 'BlockBlob';
      eTag = properties.etag ?? eTag;
    }
    const sequence = (++this.#sequence).toString(16).padStart(16, '0');
    return {
      id: randomUUID(),
      topic: TOPIC,
      subject: blobSubject(write.container, write.blob),
      eventType: 'Microsoft.Storage.BlobCreated',
      eventTime: new Date().toISOString(),
      data: {
        api: write.api,
        clientRequestId: String(req.headers['x-ms-client-request-id'] ?? ''),
        requestId: String(response.headers['x-ms-request-id'] ?? randomUUID()),
        eTag,
        contentType,
        contentLength,
        blobType,
        url: `${this.#endpoint.replace(/\/[^/]+$/, '')}${url.pathname}`,
        sequencer: `${Date.now().toString(16).padStart(16, '0')}${sequence}`,
        storageDiagnostics: { batchId: randomUUID() },
      },
      dataVersion: '',
      metadataVersion: '1',
    };
  }
}

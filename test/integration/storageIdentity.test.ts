import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorageAccount, type StorageAccount } from '../../shared/adapters/storageAccount.js';
import { storageProbes } from '../../shared/adapters/storageProbes.js';
import { SasLocations } from '../../shared/adapters/sasLocations.js';
import { UploadUrlSigner } from '../../shared/adapters/uploadSas.js';
import { azureBlobContainers } from '../../shared/adapters/azureBlobs.js';
import { TableJobStore } from '../../shared/adapters/tableJobStore.js';
import { loadConfig } from '../../shared/config.js';
import { checkHealth } from '../../shared/health.js';
import { startAzurite, type AzuriteHandle } from '../../infra/local/storage/azurite.js';
import { Logger } from '../../infra/local/host/logger.js';

/**
 * A Microsoft Entra access token as Azurite's basic OAuth checks it: issuer, audience and
 * lifetime, not the signature. What the app does with it is what it does with a managed
 * identity's token on Azure: no account key anywhere.
 */
class EntraTokens implements TokenCredential {
  requests = 0;
  constructor(private readonly claims: Record<string, unknown> = {}) {}

  getToken(): Promise<AccessToken> {
    this.requests++;
    const now = Math.floor(Date.now() / 1000);
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const token = [
      encode({ alg: 'RS256', typ: 'JWT' }),
      encode({
        aud: 'https://storage.azure.com',
        iss: 'https://sts.windows.net/ab1f708d-50f6-404c-a006-d71b2ac7a606/',
        iat: now - 60,
        nbf: now - 60,
        exp: now + 3600,
        oid: randomUUID(),
        tid: 'ab1f708d-50f6-404c-a006-d71b2ac7a606',
        ...this.claims,
      }),
      'c2lnbmF0dXJl',
    ].join('.');
    return Promise.resolve({ token, expiresOnTimestamp: (now + 3600) * 1000 });
  }
}

const hex = (n: number) => randomBytes(n).toString('hex');

describe('storage through the app identity (Microsoft Entra tokens, no account key)', () => {
  let azurite: AzuriteHandle;
  let directory: string;
  let account: StorageAccount;
  const tokens = new EntraTokens();
  const rejectUnauthorized = process.env.NODE_TLS_REJECT_UNAUTHORIZED;

  beforeAll(async () => {
    // Azurite takes bearer tokens over https only; its certificate is made here, for this run.
    directory = await mkdtemp(path.join(tmpdir(), 'cloudjobs-oauth-'));
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    const certPath = path.join(directory, 'cert.pem');
    const keyPath = path.join(directory, 'key.pem');
    await writeFile(certPath, pems.cert);
    await writeFile(keyPath, pems.private);
    // The certificate is our own and this worker process talks to nothing else.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    azurite = await startAzurite({
      host: '127.0.0.1',
      blobPort: 0,
      queuePort: 0,
      tablePort: 0,
      oauth: { certPath, keyPath },
      logger: new Logger({ defaultLevel: 'warning' }).child('azurite'),
    });
    // The settings a deployment writes, read as the app reads them at start.
    const config = loadConfig({
      AzureWebJobsStorage__blobServiceUri: azurite.endpoints.blob,
      AzureWebJobsStorage__queueServiceUri: azurite.endpoints.queue,
      AzureWebJobsStorage__tableServiceUri: azurite.endpoints.table,
      AzureWebJobsStorage__credential: 'managedidentity',
      BATCH_ACCOUNT_URL: 'https://cloudjobs.westeurope.batch.azure.com',
    });
    expect(config.storage.kind).toBe('identity');
    account = openStorageAccount(config.storage, tokens);
  });

  afterAll(async () => {
    await azurite?.stop();
    if (rejectUnauthorized === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = rejectUnauthorized;
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('should refuse a token for another audience, so the tests below prove the identity is used', async () => {
    const stranger = openStorageAccount(
      { kind: 'identity', blobServiceUri: azurite.endpoints.blob, tableServiceUri: azurite.endpoints.table },
      new EntraTokens({ aud: 'https://management.azure.com' }),
    );
    const report = await checkHealth(storageProbes(stranger));
    expect(report.healthy).toBe(false);
    for (const check of [report.checks.blobs, report.checks.tables]) {
      expect(check?.ok).toBe(false);
      expect(check?.error).toMatch(/authenticate/i);
    }
  });

  it('should pass the health probes and keep jobs in tables with the identity alone', async () => {
    const before = tokens.requests;
    expect(await checkHealth(storageProbes(account))).toMatchObject({ healthy: true });
    const prefix = `i${hex(4)}`;
    const store = new TableJobStore({
      tables: account.table,
      tablePrefix: prefix,
      specs: account.blobs.getContainerClient(`${prefix}-specs`),
    });
    const id = `job-${hex(6)}`;
    await store.createJob({
      id,
      owner: 'alice',
      spec: { name: 'demo', tasks: [{ id: 'a', command: 'echo a' }] },
      name: 'demo',
      pool: 'default',
      tags: {},
      taskCount: 1,
      at: new Date().toISOString(),
    });
    expect(await store.getJob(id)).toMatchObject({ id, owner: 'alice', status: 'PENDING' });
    expect(tokens.requests).toBeGreaterThan(before);
  });

  it('should hand Batch user delegation SAS URLs that write and read what they grant and no more', async () => {
    const container = account.blobs.getContainerClient(`jobs-${hex(4)}`);
    await container.create();
    await container.getBlockBlobClient('in/data.txt').upload('input', 5);
    const locations = await SasLocations.create(account.blobs, new Date(Date.now() + 3600_000));

    const containerUrl = new URL(locations.containerUrl(container.containerName));
    // A user delegation SAS names the key's owner (skoid) and tenant; a shared key one does not.
    expect(containerUrl.searchParams.get('skoid')).toBeTruthy();
    expect(containerUrl.searchParams.get('sktid')).toBe('ab1f708d-50f6-404c-a006-d71b2ac7a606');
    expect(containerUrl.searchParams.get('sp')).toBe('racwl');
    const asBatch = new ContainerClient(containerUrl.toString());
    await asBatch.getBlockBlobClient('out/result.txt').upload('output', 6);
    expect((await container.getBlobClient('out/result.txt').downloadToBuffer()).toString()).toBe('output');

    const blobUrl = locations.blobUrl(container.containerName, 'in/data.txt');
    expect(new URL(blobUrl).searchParams.get('sp')).toBe('r');
    expect((await new BlockBlobClient(blobUrl).downloadToBuffer()).toString()).toBe('input');
    await expect(new BlockBlobClient(blobUrl).upload('overwritten', 11)).rejects.toMatchObject({
      statusCode: 403,
    });
  });

  it('should sign inbox upload URLs with a user delegation key: create and write one blob only', async () => {
    const inbox = `inbox-${hex(4)}`;
    const signer = new UploadUrlSigner(account.blobs, inbox);
    const upload = await signer.uploadUrl('alice/job.json', new Date(Date.now() + 15 * 60_000));
    const url = new URL(upload.url);
    expect(url.searchParams.get('skoid')).toBeTruthy();
    expect(url.searchParams.get('sp')).toBe('cw');
    const blob = new BlockBlobClient(upload.url);
    await blob.upload('{"name":"x"}', 12);
    await expect(blob.download()).rejects.toMatchObject({ statusCode: 403 });
    const neighbour = new URL(upload.url);
    neighbour.pathname = neighbour.pathname.replace('alice/job.json', 'bob/job.json');
    await expect(new BlockBlobClient(neighbour.toString()).upload('{}', 2)).rejects.toMatchObject({
      statusCode: 403,
    });
    const written = await account.blobs.getContainerClient(inbox).getBlobClient('alice/job.json').exists();
    expect(written).toBe(true);
  });

  // Azure authorizes a copy's source by its URL alone, so without an account key the adapter signs a
  // user delegation SAS for it. Azurite does not check a same-account copy source, so this shows the
  // delegation path works end to end (key fetched with the token, SAS accepted), not that Azure
  // would refuse a plain URL.
  it('should move a rejected manifest with a server-side copy signed by a delegation key', async () => {
    const containers = azureBlobContainers(account.blobs);
    const inbox = containers(`inbox-${hex(4)}`);
    const rejected = containers(`rejected-${hex(4)}`);
    await inbox.createIfNotExists();
    await rejected.createIfNotExists();
    await inbox.write('alice/bad.yaml', 'name: [unclosed', 'application/yaml');
    await inbox.copyTo('alice/bad.yaml', rejected, 'alice/bad.yaml');
    expect((await rejected.read('alice/bad.yaml'))?.toString()).toBe('name: [unclosed');
    await inbox.delete('alice/bad.yaml');
    expect(await inbox.exists('alice/bad.yaml')).toBe(false);
  });
});

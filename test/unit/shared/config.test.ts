import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CONFIG_KEYS, ConfigError, DEPLOYMENT, loadConfig } from '../../../shared/config.js';
import { checkHealth } from '../../../shared/health.js';

const base = {
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  BATCH_ACCOUNT_URL: 'https://acct.westeurope.batch.azure.com',
};

describe('configuration', () => {
  it('should list every key in local.settings.example.json', () => {
    const example = JSON.parse(
      readFileSync(new URL('../../../local.settings.example.json', import.meta.url), 'utf8'),
    ) as {
      Values: Record<string, string>;
    };
    expect(Object.values(CONFIG_KEYS).filter((key) => !(key in example.Values))).toEqual([]);
  });

  it('should read storage and Batch settings, with Microsoft Entra when no key is given', () => {
    expect(loadConfig(base)).toEqual({
      storage: { kind: 'connectionString', connectionString: 'UseDevelopmentStorage=true' },
      batch: { accountUrl: 'https://acct.westeurope.batch.azure.com', submitConcurrency: 16 },
      identity: { kind: 'local' },
      defaultPool: 'default',
      tablePrefix: '',
      maxBodyBytes: 16 * 1024 * 1024,
      limits: {
        maxTasks: 100_000,
        maxCommandLength: 8191,
        maxEnvBytes: 32 * 1024,
        maxDependencyEdges: 2_000_000,
      },
      inboxSasMinutes: 15,
      filesSasMinutes: 60,
      retentionDays: 0,
      blockedRetry: { initialSeconds: 30, maxSeconds: 600 },
      guards: { maxBlockedMinutes: 1440, maxQueuedMinutes: 1440 },
      poolsFixed: false,
      presets: [],
      maxRunningJobsPerUser: 0,
      inputContainers: [],
      chunksPerSubOrchestration: 1000,
      streams: { heartbeatMs: 15_000, maxMs: 210_000, pollMs: 1000 },
      webhooks: { allowHttp: false, allowLoopback: false },
      notifications: {
        retryScheduleSeconds: [5, 30, 300, 1800, 7200, 18000, 36000, 36000],
        attemptTimeoutMs: 10_000,
        backstopMs: 60_000,
      },
    });
  });

  it('should read the notification settings and name a bad one', () => {
    const config = loadConfig({
      ...base,
      CLOUDJOBS_SMTP_URL: 'smtp://user:p%40ss@mail.example.org:587',
      CLOUDJOBS_PUBLIC_URL: 'https://jobs.example.org/',
      CLOUDJOBS_DELIVERY_RETRY_SCHEDULE: '1, 2,3',
    }).notifications;
    expect(config).toMatchObject({
      retryScheduleSeconds: [1, 2, 3],
      smtp: { url: 'smtp://user:p%40ss@mail.example.org:587', from: 'cloudjobs <cloudjobs@localhost>' },
      publicUrl: 'https://jobs.example.org',
    });
    expect(() => loadConfig({ ...base, CLOUDJOBS_SMTP_URL: 'http://mail' })).toThrow(/CLOUDJOBS_SMTP_URL/);
    expect(() => loadConfig({ ...base, CLOUDJOBS_DELIVERY_RETRY_SCHEDULE: '5,soon' })).toThrow(
      /CLOUDJOBS_DELIVERY_RETRY_SCHEDULE/,
    );
  });

  it('should read resource presets, with their defaults, and name what is wrong with one', () => {
    const presets = loadConfig({
      ...base,
      CLOUDJOBS_PRESETS: JSON.stringify([{ name: 'gpu', cpus: 6, memoryGiB: 56, gpus: 1, pool: 'nc6' }]),
    }).presets;
    expect(presets).toEqual([
      { name: 'gpu', description: '', cpus: 6, memoryGiB: 56, gpus: 1, spot: false, pool: 'nc6', slots: 1 },
    ]);
    expect(() => loadConfig({ ...base, CLOUDJOBS_PRESETS: '[{' })).toThrow(
      /CLOUDJOBS_PRESETS must be a JSON array of presets/,
    );
    const twice = JSON.stringify([
      { name: 'a', cpus: 1, memoryGiB: 1, pool: 'p' },
      { name: 'a', cpus: 1, memoryGiB: 1, pool: 'p b', slots: 0 },
    ]);
    expect(() => loadConfig({ ...base, CLOUDJOBS_PRESETS: twice })).toThrow(/\[1\]\.pool: must be a pool id/);
    expect(() => loadConfig({ ...base, CLOUDJOBS_PRESETS: twice })).toThrow(/\[1\]\.name: a is named twice/);
  });

  it('should read Azure Communication Services email, with the access key or the managed identity', () => {
    const from = 'DoNotReply@contoso.azurecomm.net';
    const connectionString = 'endpoint=https://contoso.communication.azure.com/;accesskey=a2V5K/+=';
    expect(
      loadConfig({
        ...base,
        CLOUDJOBS_ACS_EMAIL_CONNECTION_STRING: ` ${connectionString} `,
        CLOUDJOBS_EMAIL_FROM: from,
      }).notifications,
    ).toMatchObject({ acs: { connectionString, from } });
    const withIdentity = loadConfig({
      ...base,
      CLOUDJOBS_ACS_EMAIL_ENDPOINT: 'https://contoso.communication.azure.com',
      CLOUDJOBS_ACS_EMAIL_CONNECTION_STRING: '',
      CLOUDJOBS_SMTP_URL: '',
      CLOUDJOBS_EMAIL_FROM: from,
    }).notifications;
    expect(withIdentity.acs).toEqual({ endpoint: 'https://contoso.communication.azure.com', from });
    expect(withIdentity.smtp).toBeUndefined();
  });

  it('should refuse an ACS email configuration that cannot work, naming the keys', () => {
    const acs = { CLOUDJOBS_ACS_EMAIL_ENDPOINT: 'https://contoso.communication.azure.com' };
    const from = { CLOUDJOBS_EMAIL_FROM: 'DoNotReply@contoso.azurecomm.net' };
    expect(() => loadConfig({ ...base, ...acs })).toThrow(
      /CLOUDJOBS_EMAIL_FROM is required with CLOUDJOBS_ACS_EMAIL_ENDPOINT/,
    );
    expect(() =>
      loadConfig({ ...base, ...acs, CLOUDJOBS_EMAIL_FROM: 'cloudjobs <cloudjobs@localhost>' }),
    ).toThrow(/CLOUDJOBS_EMAIL_FROM must be a bare address/);
    expect(() =>
      loadConfig({ ...base, ...acs, ...from, CLOUDJOBS_SMTP_URL: 'smtp://mail.example.org' }),
    ).toThrow(/CLOUDJOBS_SMTP_URL is set and so is CLOUDJOBS_ACS_EMAIL_ENDPOINT: .* pick one/);
    expect(() =>
      loadConfig({
        ...base,
        ...acs,
        ...from,
        CLOUDJOBS_ACS_EMAIL_CONNECTION_STRING:
          'endpoint=https://contoso.communication.azure.com/;accesskey=a2V5',
      }),
    ).toThrow(
      /CLOUDJOBS_ACS_EMAIL_CONNECTION_STRING and CLOUDJOBS_ACS_EMAIL_ENDPOINT are both set: pick one/,
    );
    expect(() => loadConfig({ ...base, ...from, CLOUDJOBS_ACS_EMAIL_ENDPOINT: 'http://contoso' })).toThrow(
      /CLOUDJOBS_ACS_EMAIL_ENDPOINT must be an https:\/\/ URL/,
    );
    expect(() =>
      loadConfig({
        ...base,
        ...from,
        CLOUDJOBS_ACS_EMAIL_ENDPOINT: 'https://contoso.communication.azure.com/x',
      }),
    ).toThrow(/CLOUDJOBS_ACS_EMAIL_ENDPOINT must be the resource URL, with no path/);
    // The connection string holds the access key: the error names the key, never the value.
    const secret = 'accesskey-that-must-not-be-echoed';
    let refused = '';
    try {
      loadConfig({ ...base, ...from, CLOUDJOBS_ACS_EMAIL_CONNECTION_STRING: secret });
    } catch (error) {
      refused = (error as Error).message;
    }
    expect(refused).toMatch(/CLOUDJOBS_ACS_EMAIL_CONNECTION_STRING must be endpoint=https:/);
    expect(refused).not.toContain(secret);
  });

  it('should pick the identity mode: App Service authentication, then API tokens, then single-user', () => {
    const tokens = 'alice=aaaaaaaaaaaaaaaa1, ops:admin=bbbbbbbbbbbbbbbb2';
    const withTokens = loadConfig({ ...base, CLOUDJOBS_API_TOKENS: tokens }).identity;
    expect(withTokens.kind === 'tokens' && withTokens.tokens.map((t) => [t.owner, t.admin])).toEqual([
      ['alice', false],
      ['ops', true],
    ]);
    expect(JSON.stringify(withTokens)).not.toContain('aaaaaaaaaaaaaaaa1');
    expect(
      loadConfig({ ...base, CLOUDJOBS_API_TOKENS: tokens, WEBSITE_AUTH_ENABLED: 'True' }).identity,
    ).toEqual({
      kind: 'appServiceAuth',
      adminRole: 'cloudjobs.admin',
    });
    expect(loadConfig({ ...base, CLOUDJOBS_API_TOKENS: ' ' }).identity).toEqual({ kind: 'local' });
  });

  it('should connect to storage with the app identity, as the Functions host reads the same keys', () => {
    const identity = { BATCH_ACCOUNT_URL: base.BATCH_ACCOUNT_URL };
    expect(loadConfig({ ...identity, AzureWebJobsStorage__accountName: 'cloudjobsdata' }).storage).toEqual({
      kind: 'identity',
      blobServiceUri: 'https://cloudjobsdata.blob.core.windows.net',
      tableServiceUri: 'https://cloudjobsdata.table.core.windows.net',
    });
    expect(
      loadConfig({
        ...identity,
        AzureWebJobsStorage: '',
        AzureWebJobsStorage__accountName: 'cloudjobsdata',
        AzureWebJobsStorage__blobServiceUri: 'https://cloudjobsdata.blob.core.usgovcloudapi.net/',
        AzureWebJobsStorage__tableServiceUri: 'https://cloudjobsdata.table.core.usgovcloudapi.net',
        AzureWebJobsStorage__credential: 'managedidentity',
        AzureWebJobsStorage__clientId: '7a0e8d7c-5b0e-4d1e-9c1a-3f7a3e0b9f21',
      }).storage,
    ).toEqual({
      kind: 'identity',
      blobServiceUri: 'https://cloudjobsdata.blob.core.usgovcloudapi.net',
      tableServiceUri: 'https://cloudjobsdata.table.core.usgovcloudapi.net',
      credential: 'managedidentity',
      clientId: '7a0e8d7c-5b0e-4d1e-9c1a-3f7a3e0b9f21',
    });
  });

  it.each([
    [
      { AzureWebJobsStorage__blobServiceUri: 'https://a.blob.core.windows.net' },
      /AzureWebJobsStorage__tableServiceUri is required with AzureWebJobsStorage__blobServiceUri/,
    ],
    [
      {
        AzureWebJobsStorage: 'UseDevelopmentStorage=true',
        AzureWebJobsStorage__accountName: 'cloudjobsdata',
      },
      /AzureWebJobsStorage is set and so is AzureWebJobsStorage__accountName: .* not both/,
    ],
    [{ AzureWebJobsStorage__accountName: 'Not_An_Account' }, /AzureWebJobsStorage__accountName must be/],
    [
      { AzureWebJobsStorage__accountName: 'cloudjobsdata', AzureWebJobsStorage__credential: 'azurecli' },
      /AzureWebJobsStorage__credential must be managedidentity/,
    ],
    [
      { AzureWebJobsStorage__accountName: 'cloudjobsdata', AzureWebJobsStorage__clientId: 'me' },
      /AzureWebJobsStorage__clientId must be the client id/,
    ],
  ])('should refuse the storage settings %j, naming the key', (storage, message) => {
    expect(() => loadConfig({ BATCH_ACCOUNT_URL: base.BATCH_ACCOUNT_URL, ...storage })).toThrow(message);
  });

  it('should refuse single-user mode on Azure, where it would open every job to the internet', () => {
    const azure = { ...base, WEBSITE_SITE_NAME: 'func-cloudjobs' };
    expect(() => loadConfig(azure)).toThrow(/CLOUDJOBS_API_TOKENS is required on Azure/);
    expect(loadConfig({ ...azure, CLOUDJOBS_API_TOKENS: 'ops:admin=aaaaaaaaaaaaaaaa1' }).identity.kind).toBe(
      'tokens',
    );
    expect(loadConfig({ ...azure, WEBSITE_AUTH_ENABLED: 'True' }).identity.kind).toBe('appServiceAuth');
  });

  it('should say what the Azure deployment does with every setting, and keep keys out of it', () => {
    expect(Object.keys(DEPLOYMENT).sort()).toEqual(Object.values(CONFIG_KEYS).sort());
    for (const key of [
      'AzureWebJobsStorage',
      'BATCH_ACCOUNT_KEY',
      'CLOUDJOBS_ACS_EMAIL_CONNECTION_STRING',
      'CLOUDJOBS_WEBHOOK_ALLOW_LOOPBACK',
    ] as const) {
      expect(DEPLOYMENT[key]).toBe('never');
    }
    expect(DEPLOYMENT.CLOUDJOBS_API_TOKENS).toBe('secret');
    expect(DEPLOYMENT.CLOUDJOBS_SMTP_URL).toBe('secret');
  });

  it("should read the pools' identity that reaches job files instead of SAS URLs, and name a bad one", () => {
    const identity =
      '/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/rg-jobs/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-pool';
    expect(loadConfig({ ...base, CLOUDJOBS_BATCH_NODE_IDENTITY: identity }).batch.nodeIdentity).toBe(
      identity,
    );
    expect(loadConfig(base).batch.nodeIdentity).toBeUndefined();
    expect(() => loadConfig({ ...base, CLOUDJOBS_BATCH_NODE_IDENTITY: 'id-pool' })).toThrow(
      /CLOUDJOBS_BATCH_NODE_IDENTITY must be the resource id of a user-assigned identity/,
    );
  });

  it('should send telemetry to Application Insights with the app identity when the host would', () => {
    const connectionString =
      'InstrumentationKey=7f1b8a7e-0000-4000-8000-0000000c10d5;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/';
    expect(loadConfig(base).telemetry).toBeUndefined();
    expect(
      loadConfig({ ...base, APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString }).telemetry,
    ).toEqual({
      connectionString,
    });
    expect(
      loadConfig({
        ...base,
        APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString,
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD',
      }).telemetry,
    ).toEqual({ connectionString, entra: {} });
    expect(
      loadConfig({
        ...base,
        APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString,
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING:
          'ClientId=7a0e8d7c-5b0e-4d1e-9c1a-3f7a3e0b9f21;Authorization=AAD',
      }).telemetry,
    ).toEqual({ connectionString, entra: { clientId: '7a0e8d7c-5b0e-4d1e-9c1a-3f7a3e0b9f21' } });
    expect(() => loadConfig({ ...base, APPLICATIONINSIGHTS_CONNECTION_STRING: 'https://monitor' })).toThrow(
      /APPLICATIONINSIGHTS_CONNECTION_STRING must be an Application Insights connection string/,
    );
    expect(() =>
      loadConfig({ ...base, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=Key' }),
    ).toThrow(/APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be Authorization=AAD/);
  });

  it('should use shared key credentials when an account name and key are given', () => {
    const config = loadConfig({
      ...base,
      BATCH_ACCOUNT_NAME: 'acct',
      BATCH_ACCOUNT_KEY: 'a2V5',
      BATCH_SUBMIT_CONCURRENCY: '4',
    });
    expect(config.batch).toEqual({
      accountUrl: base.BATCH_ACCOUNT_URL,
      sharedKey: { accountName: 'acct', accountKey: 'a2V5' },
      submitConcurrency: 4,
    });
  });

  it('should name every missing key in one error', () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    try {
      loadConfig({});
    } catch (error) {
      const problems = (error as ConfigError).problems;
      expect(problems).toHaveLength(2);
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^AzureWebJobsStorage is required/),
          expect.stringMatching(/^BATCH_ACCOUNT_URL is required/),
        ]),
      );
    }
  });

  it.each([
    [{ ...base, BATCH_ACCOUNT_URL: 'not a url' }, /BATCH_ACCOUNT_URL must be a URL/],
    [{ ...base, BATCH_SUBMIT_CONCURRENCY: '0' }, /BATCH_SUBMIT_CONCURRENCY/],
    [{ ...base, BATCH_SUBMIT_CONCURRENCY: 'many' }, /BATCH_SUBMIT_CONCURRENCY/],
    [{ ...base, BATCH_ACCOUNT_KEY: 'a2V5' }, /BATCH_ACCOUNT_NAME is required when BATCH_ACCOUNT_KEY is set/],
    [
      { ...base, CLOUDJOBS_API_TOKENS: 'alice=short' },
      /CLOUDJOBS_API_TOKENS entry 1 \(alice\) has a token shorter/,
    ],
    [
      { ...base, CLOUDJOBS_API_TOKENS: 'bad name=aaaaaaaaaaaaaaaaaaaa' },
      /CLOUDJOBS_API_TOKENS entry 1 must be name=token/,
    ],
    [
      { ...base, CLOUDJOBS_API_TOKENS: 'a:root=aaaaaaaaaaaaaaaaaaaa' },
      /CLOUDJOBS_API_TOKENS entry 1 must be/,
    ],
    [{ ...base, CLOUDJOBS_MAX_TASKS: '0' }, /CLOUDJOBS_MAX_TASKS/],
    [{ ...base, CLOUDJOBS_TABLE_PREFIX: 'Has-Dash' }, /CLOUDJOBS_TABLE_PREFIX/],
  ])('should refuse %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('health', () => {
  it('should be healthy only when every probe answers, and say which failed', async () => {
    const report = await checkHealth([
      { name: 'fine', check: () => Promise.resolve() },
      { name: 'down', check: () => Promise.reject(new Error('connection refused')) },
    ]);
    expect(report.healthy).toBe(false);
    expect(report.checks.fine).toMatchObject({ ok: true });
    expect(report.checks.down).toMatchObject({ ok: false, error: 'connection refused' });
  });

  it('should give up on a probe that does not answer in time', async () => {
    const report = await checkHealth(
      [
        {
          name: 'slow',
          check: (signal) =>
            new Promise((_, reject) =>
              signal.addEventListener('abort', () => reject(new Error('timed out'))),
            ),
        },
      ],
      20,
    );
    expect(report).toMatchObject({ healthy: false, checks: { slow: { ok: false, error: 'timed out' } } });
  });

  it('should read the containers inputs may come from, and name a bad one', () => {
    expect(
      loadConfig({ ...base, CLOUDJOBS_INPUT_CONTAINERS: ' data, shared-refs ,' }).inputContainers,
    ).toEqual(['data', 'shared-refs']);
    expect(() => loadConfig({ ...base, CLOUDJOBS_INPUT_CONTAINERS: 'data,Bad_Name' })).toThrow(
      /CLOUDJOBS_INPUT_CONTAINERS.* must be a list of container names/,
    );
  });
});

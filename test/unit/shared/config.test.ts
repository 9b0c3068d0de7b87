import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../shared/config.js';
import { checkHealth } from '../../../shared/health.js';

const base = {
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  BATCH_ACCOUNT_URL: 'https://acct.westeurope.batch.azure.com',
};

describe('configuration', () => {
  it('should read storage and Batch settings, with Microsoft Entra when no key is given', () => {
    expect(loadConfig(base)).toEqual({
      storageConnectionString: 'UseDevelopmentStorage=true',
      batch: { accountUrl: 'https://acct.westeurope.batch.azure.com', submitConcurrency: 16 },
    });
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
      expect((error as ConfigError).problems).toEqual([
        expect.stringMatching(/^AzureWebJobsStorage is required/),
        expect.stringMatching(/^BATCH_ACCOUNT_URL is required/),
      ]);
    }
  });

  it.each([
    [{ ...base, BATCH_ACCOUNT_URL: 'not a url' }, /BATCH_ACCOUNT_URL must be a URL/],
    [{ ...base, BATCH_SUBMIT_CONCURRENCY: '0' }, /BATCH_SUBMIT_CONCURRENCY/],
    [{ ...base, BATCH_SUBMIT_CONCURRENCY: 'many' }, /BATCH_SUBMIT_CONCURRENCY/],
    [{ ...base, BATCH_ACCOUNT_KEY: 'a2V5' }, /BATCH_ACCOUNT_NAME is required when BATCH_ACCOUNT_KEY is set/],
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
});

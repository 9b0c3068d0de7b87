import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../shared/config.js';
import { checkHealth } from '../../../shared/health.js';

describe('configuration', () => {
  it('should read the storage connection string', () => {
    expect(loadConfig({ AzureWebJobsStorage: 'UseDevelopmentStorage=true' })).toEqual({
      storageConnectionString: 'UseDevelopmentStorage=true',
    });
  });

  it.each([[{}], [{ AzureWebJobsStorage: '' }]])('should name every missing key (%j)', (env) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/AzureWebJobsStorage is required/);
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

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, RuntimeProcess } from '../support/runtimeProcess.js';

describe('cloudjobs on the embedded runtime', () => {
  const runtime = new RuntimeProcess({ app: ROOT, storage: inject('azurite') });

  beforeAll(async () => {
    await runtime.start();
  });
  afterAll(async () => {
    await runtime.dispose();
  });

  it('should load the compiled app from package.json main and answer health', async () => {
    expect(runtime.info.functions).toContain('health');
    const response = await runtime.fetch('/api/health');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toMatchObject({
      status: 'ok',
      checks: { tables: { ok: true }, blobs: { ok: true } },
    });
  });
});

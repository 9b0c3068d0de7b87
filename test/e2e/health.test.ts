import { describe, expect, inject, it } from 'vitest';
import { ROOT, useRuntime } from '../support/runtimeProcess.js';

describe('cloudjobs on the embedded runtime', () => {
  const runtime = useRuntime({ app: ROOT, storage: inject('azurite') });

  it('should load the compiled app from package.json main and answer health', async () => {
    expect(runtime.info.functions).toContain('health');
    const response = await runtime.fetch('/api/health');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toMatchObject({
      status: 'ok',
      checks: { tables: { ok: true }, blobs: { ok: true }, batch: { ok: true } },
    });
  });
});

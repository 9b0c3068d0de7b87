import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { staticSite } from '../../../infra/local/http/staticSite.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A built site on disk, served the way the runtime serves it (404 when the site has nothing). */
async function serve(config: unknown): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'site-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  await mkdir(path.join(root, 'assets'));
  await writeFile(path.join(root, 'index.html'), '<!doctype html><title>app</title>');
  await writeFile(path.join(root, 'assets', 'app-1234.js'), 'console.log(1)');
  await writeFile(path.join(root, 'staticwebapp.config.json'), JSON.stringify(config));
  const site = staticSite(root);
  const server = http.createServer((req, res) => {
    void site.serve(req, res).then((served) => {
      if (!served) res.writeHead(404).end('not here');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const config = {
  navigationFallback: { rewrite: '/index.html', exclude: ['/assets/*', '/*.{json,ico}'] },
  globalHeaders: { 'X-Content-Type-Options': 'nosniff' },
};

describe('the static site beside the API, as Static Web Apps serves it', () => {
  it('should serve files, and the app page for client-side routes with the address kept', async () => {
    const url = await serve(config);
    const asset = await fetch(`${url}/assets/app-1234.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
    for (const route of ['/', '/jobs/1234', '/submit?x=1']) {
      const page = await fetch(`${url}${route}`, { redirect: 'manual' });
      expect(page.status, route).toBe(200);
      expect(await page.text()).toContain('<title>app</title>');
      expect(page.headers.get('cache-control')).toBe('no-cache');
    }
  });

  it('should answer 404 for what the fallback excludes, and never serve its own configuration', async () => {
    const url = await serve(config);
    expect((await fetch(`${url}/assets/missing.js`)).status).toBe(404);
    expect((await fetch(`${url}/favicon.ico`)).status).toBe(404);
    expect((await fetch(`${url}/staticwebapp.config.json`)).status).toBe(404);
    // Out of the root: the path is resolved inside it, or refused.
    expect(await (await fetch(`${url}/..%2f..%2fetc%2fpasswd`)).text()).not.toContain('root:');
  });

  it('should refuse a configuration Azure would read differently, naming the field', async () => {
    await expect(serve({ navigationFallback: { rewrite: 'index.html' } })).rejects.toThrow(
      /navigationFallback\.rewrite/,
    );
  });
});

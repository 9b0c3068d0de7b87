import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';
import { ISSUER_VARIABLE, withSignIn } from './swaSignIn.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('../dist/web', import.meta.url));

/** On a deployment's build (azd passes the issuer), the Static Web App's sign-in goes in the config. */
function staticWebAppSignIn(): Plugin {
  return {
    name: 'cloudjobs-static-web-app-sign-in',
    apply: 'build',
    async closeBundle() {
      const issuer = process.env[ISSUER_VARIABLE];
      if (!issuer) return;
      const file = path.join(outDir, 'staticwebapp.config.json');
      const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      await writeFile(file, `${JSON.stringify(withSignIn(config, issuer), null, 2)}\n`);
    },
  };
}

/**
 * The dashboard: built into dist/web, which the embedded runtime serves at `/` beside `/api` and
 * Azure Static Web Apps serves in the cloud. `npm run dev:web` serves it with reloading, its API
 * calls sent to the runtime `npm start` runs.
 */
export default defineConfig({
  root: here,
  plugins: [react(), staticWebAppSignIn()],
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: true,
    // The client loads its file writer (outputs download into a folder) only in Node; never here.
    rolldownOptions: { external: [/^node:/] },
  },
  server: {
    proxy: { '/api': process.env.CLOUDJOBS_URL ?? 'http://127.0.0.1:7071' },
  },
});

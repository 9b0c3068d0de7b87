import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * The dashboard: built into dist/web, which the embedded runtime serves at `/` beside `/api` and
 * Azure Static Web Apps serves in the cloud. `npm run dev:web` serves it with reloading, its API
 * calls sent to the runtime `npm start` runs.
 */
export default defineConfig({
  root: here,
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    // The client loads its file writer (outputs download into a folder) only in Node; never here.
    rolldownOptions: { external: [/^node:/] },
  },
  server: {
    proxy: { '/api': process.env.CLOUDJOBS_URL ?? 'http://127.0.0.1:7071' },
  },
});

import path from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

/**
 * The project's own lint rules, shown failing on planted violations: the layers (what each folder
 * may import) and determinism in replayed code. The real config is used; only the rules that need
 * type information are switched off, since the planted files exist only here.
 */
const root = path.resolve(import.meta.dirname, '../../..');
const eslint = new ESLint({ cwd: root, overrideConfig: tseslint.configs.disableTypeChecked });

const OURS = new Set([
  '@typescript-eslint/no-restricted-imports',
  'no-restricted-globals',
  'no-restricted-properties',
  'no-restricted-syntax',
]);

/** The project rules `code` breaks when it stands at `file`. */
async function broken(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId && OURS.has(m.ruleId)).map((m) => m.message);
}

const ORCHESTRATION = 'shared/orchestration/planted.ts';

describe('the lint rules that keep the layers and replay safe', () => {
  it.each([
    ['new Date() with no argument', 'export const at = new Date();', /new Date\(\) reads the clock/],
    ['Date()', 'export const at = Date();', /Date\(\) reads the clock/],
    ['Date.now', 'export const at = Date.now();', /use context\.df\.currentUtcDateTime/],
    ['Math.random', 'export const n = Math.random();', /no randomness/],
    ['a timer', 'setTimeout(() => undefined, 10);', /wait with context\.df\.createTimer/],
    ['process.env', 'export const x = process.env.X;', /settings come in the orchestration input/],
    ['crypto', 'export const id = crypto.randomUUID();', /context\.df\.newGuid/],
    [
      'an I/O module',
      "import { readFile } from 'node:fs/promises';\nexport { readFile };",
      /do I\/O in an activity/,
    ],
    [
      'an Azure SDK',
      "import { BlobClient } from '@azure/storage-blob';\nexport { BlobClient };",
      /talk to Azure in an activity/,
    ],
    [
      'a service',
      "import { JobRunner } from '../jobs/jobRunner.js';\nexport { JobRunner };",
      /only as the activities it calls/,
    ],
  ])('should refuse %s in replayed code', async (_what, code, message) => {
    expect(await broken(ORCHESTRATION, code)).toEqual([expect.stringMatching(message)]);
    // The same code in an orchestrator's function entry point is replayed too.
    expect(await broken('functions/plantedOrchestrator.ts', code)).toEqual([expect.stringMatching(message)]);
  });

  it('should allow what replay is safe with: time from context.df, types of the services', async () => {
    const code = [
      "import type { OrchestrationContext } from 'durable-functions';",
      "import type { JobRunner } from '../jobs/jobRunner.js';",
      'export const later = (context: OrchestrationContext, runner?: JobRunner) =>',
      '  runner ?? new Date(context.df.currentUtcDateTime.getTime() + 1000);',
    ].join('\n');
    expect(await broken(ORCHESTRATION, code)).toEqual([]);
  });

  it.each([
    ['shared/domain/planted.ts', "import { JobsApi } from '../jobs/jobsApi.js';", /knows no service/],
    [
      'shared/domain/planted.ts',
      "import { TableClient } from '@azure/data-tables';",
      /does not talk to Azure/,
    ],
    ['shared/domain/planted.ts', "import { readFile } from 'node:fs';", /does no I\/O/],
    [
      'shared/jobs/planted.ts',
      "import { UploadUrlSigner } from '../adapters/uploadSas.js';",
      /ports \(interfaces\), not adapters/,
    ],
    [
      'shared/notifications/planted.ts',
      "import { problemResponse } from '../http/problems.js';",
      /Only the edge/,
    ],
    ['shared/adapters/planted.ts', "import { getServices } from '../composition.js';", /Only the edge/],
    [
      'shared/http/planted.ts',
      "import { Runtime } from '../../infra/local/runtime.js';",
      /never loads the embedded runtime/,
    ],
    [
      'shared/planted.ts',
      "import { jobsGet } from '../functions/jobsGet.js';",
      /does not know the entry points/,
    ],
    [
      'functions/planted.ts',
      "import { Runtime } from '../infra/local/runtime.js';",
      /never loads the embedded runtime/,
    ],
    [
      'infra/local/planted.ts',
      "import { loadConfig } from '../../shared/config.js';",
      /must not depend on this one/,
    ],
    [
      'client/planted.ts',
      "import { openApiDocument } from '../shared/http/openapi.js';",
      /by its types alone/,
    ],
    ['client/planted.ts', "import { main } from '../cli/main.js';", /does not know the command line/],
    [
      'client/planted.ts',
      "import { Runtime } from '../infra/local/runtime.js';",
      /never loads the embedded runtime/,
    ],
    ['cli/planted.ts', "import { JobsApi } from '../shared/jobs/jobsApi.js';", /by its types alone/],
  ])('should refuse, in %s, %s', async (file, code, message) => {
    expect(await broken(file, `${code}\nexport const planted = 1;`)).toEqual([
      expect.stringMatching(message),
    ]);
  });

  it.each([
    ['shared/domain/planted.ts', "import type { JobStore } from '../store/jobStore.js';"],
    ['shared/adapters/planted.ts', "import type { UploadSigner } from '../jobs/inboxApi.js';"],
    ['shared/http/planted.ts', "import { getServices } from '../composition.js';"],
    ['infra/local/planted.ts', "import { verifyWebhook } from '../../shared/domain/webhooks.js';"],
    ['client/planted.ts', "import type { jobViewSchema } from '../shared/http/openapi.js';"],
    ['cli/planted.ts', "import { CloudJobsClient } from '../client/index.js';"],
  ])('should allow, in %s, %s', async (file, code) => {
    expect(await broken(file, `${code}\nexport const planted = 1;`)).toEqual([]);
  });
});

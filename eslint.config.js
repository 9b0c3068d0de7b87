// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers and what each may import. Lower layers never reach up: the pure domain knows
 * nothing of services, services (and the ports they declare) know no adapter, adapters no HTTP
 * edge, and nothing the app ships knows the embedded runtime. Type-only imports of ports and
 * contracts are allowed where a value import is not.
 */
const NOT_THE_RUNTIME = {
  group: ['**/infra/**'],
  message: 'The app never loads the embedded runtime (infra/local): it must run unchanged on Azure.',
};
const NOT_FUNCTIONS = {
  group: ['**/functions/**'],
  message: 'shared/ does not know the entry points; they call it.',
};
const NOT_THE_EDGE = {
  group: ['**/http/**', '**/composition.js'],
  message: 'Only the edge (shared/http, functions/) knows HTTP and the composition root.',
};
const NOT_ADAPTERS = {
  group: ['**/adapters/**'],
  message: 'Services depend on ports (interfaces), not adapters: take the adapter as a dependency.',
};
const NOT_SERVICES = {
  group: ['**/jobs/**', '**/notifications/**', '**/orchestration/**', '**/store/**'],
  allowTypeImports: true,
  message: 'The domain is pure: it knows no service.',
};
const NO_AZURE_OR_IO = [
  { group: ['@azure/*'], message: 'The domain does not talk to Azure; use an adapter.' },
  {
    group: ['node:fs', 'node:fs/*', 'node:net', 'node:http', 'node:https', 'undici'],
    message: 'The domain does no I/O.',
  },
];

const NOT_THE_CLI = {
  group: ['**/cli/**'],
  message: 'The client does not know the command line; the command line uses the client.',
};
const TYPES_OF_THE_API_ONLY = {
  group: ['**/shared/**'],
  allowTypeImports: true,
  message: 'Clients know the API by its types alone (import type): no service code runs in them.',
};

/** Importing these patterns is an error (type-only imports where a pattern allows them). */
const restrict = (/** @type {object[]} */ ...patterns) => ({
  'no-restricted-imports': 'off',
  '@typescript-eslint/no-restricted-imports': ['error', { patterns }],
});

/**
 * What breaks replay. An orchestrator's code runs again, from the start, every time it wakes;
 * it must make the same decisions each time, so everything it knows comes from context.df.
 */
const REPLAYED = 'Orchestrator code is replayed and must be deterministic';
const deterministic = {
  'no-restricted-globals': [
    'error',
    ...['setTimeout', 'setInterval', 'setImmediate'].map((name) => ({
      name,
      message: `${REPLAYED}: wait with context.df.createTimer.`,
    })),
    { name: 'fetch', message: `${REPLAYED}: do I/O in an activity.` },
    { name: 'process', message: `${REPLAYED}: settings come in the orchestration input.` },
    { name: 'crypto', message: `${REPLAYED}: ids come from context.df.newGuid.` },
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Math', property: 'random', message: `${REPLAYED}: no randomness.` },
    { object: 'Date', property: 'now', message: `${REPLAYED}: use context.df.currentUtcDateTime.` },
  ],
  'no-restricted-syntax': [
    'error',
    {
      selector: "NewExpression[callee.name='Date'][arguments.length=0]",
      message: `${REPLAYED}: new Date() reads the clock; use context.df.currentUtcDateTime.`,
    },
    {
      selector: "CallExpression[callee.name='Date']",
      message: `${REPLAYED}: Date() reads the clock; use context.df.currentUtcDateTime.`,
    },
  ],
};
const NO_IO_WHEN_REPLAYED = [
  {
    group: ['node:*', 'fs', 'fs/*', 'http', 'https', 'net', 'child_process', 'crypto', 'undici'],
    message: `${REPLAYED}: do I/O in an activity.`,
  },
  { group: ['@azure/*', '!@azure/functions'], message: `${REPLAYED}: talk to Azure in an activity.` },
  {
    group: ['**/adapters/**', '**/jobs/**', '**/notifications/**', '**/store/**', '**/compute/**'],
    allowTypeImports: true,
    message: `${REPLAYED}: it knows the services only as the activities it calls.`,
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cloudjobs/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  // Layers. The most specific block for a file wins, so each lists everything it forbids.
  { files: ['functions/**/*.ts'], rules: restrict(NOT_THE_RUNTIME) },
  { files: ['shared/**/*.ts'], rules: restrict(NOT_THE_RUNTIME, NOT_FUNCTIONS) },
  { files: ['shared/adapters/**/*.ts'], rules: restrict(NOT_THE_RUNTIME, NOT_FUNCTIONS, NOT_THE_EDGE) },
  {
    files: ['shared/{jobs,notifications,store,compute}/**/*.ts'],
    rules: restrict(NOT_THE_RUNTIME, NOT_FUNCTIONS, NOT_THE_EDGE, NOT_ADAPTERS),
  },
  {
    // The domain is pure: no Azure SDKs, no I/O, no service, so it runs and is tested anywhere.
    files: ['shared/domain/**/*.ts'],
    rules: restrict(
      NOT_THE_RUNTIME,
      NOT_FUNCTIONS,
      NOT_THE_EDGE,
      NOT_ADAPTERS,
      NOT_SERVICES,
      ...NO_AZURE_OR_IO,
    ),
  },
  {
    // Replayed code: the orchestrators, and everything under shared/orchestration.
    files: ['functions/*Orchestrator.ts', 'shared/orchestration/**/*.ts'],
    rules: {
      ...deterministic,
      ...restrict(NOT_THE_RUNTIME, NOT_FUNCTIONS, NOT_THE_EDGE, ...NO_IO_WHEN_REPLAYED),
    },
  },
  {
    // The client runs in users' programs and the dashboard: of the app it shares only the types
    // of what goes over the wire, so it carries none of the service's code or dependencies.
    files: ['client/**/*.ts'],
    rules: restrict(NOT_THE_RUNTIME, NOT_FUNCTIONS, NOT_THE_CLI, TYPES_OF_THE_API_ONLY),
  },
  {
    // The dashboard, like the CLI, is a user of the API: it goes through the client.
    files: ['web/**/*.{ts,tsx}'],
    rules: restrict(NOT_THE_RUNTIME, NOT_FUNCTIONS, NOT_THE_CLI, TYPES_OF_THE_API_ONLY),
  },
  {
    // The CLI is a user of the API like any other: it goes through the client.
    files: ['cli/**/*.ts'],
    rules: restrict(NOT_THE_RUNTIME, NOT_FUNCTIONS, TYPES_OF_THE_API_ONLY),
  },
  {
    // The embedded runtime stands in for Azure; of the app it knows only the reference webhook
    // check, which `npm run receive` uses so a receiver verifies exactly as the app signs.
    files: ['infra/local/**/*.ts'],
    rules: restrict({
      regex: '(^|/)(shared|functions)/(?!domain/webhooks\\.js$)',
      message: 'The embedded runtime runs any function app; it must not depend on this one.',
    }),
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // A fixture written as the Functions samples for CommonJS are: the runtime must load those too.
    files: ['test/integration/fixtures/patternsCjs/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);

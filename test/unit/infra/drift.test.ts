import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { glob } from 'tinyglobby';
import { beforeAll, describe, expect, it } from 'vitest';
import { installFunctionsCore } from '../../../infra/local/host/functionsCore.js';
import { DEPLOYMENT } from '../../../shared/config.js';
import { CONTAINERS, TABLES } from '../../../shared/storageLayout.js';
import { deployBoth, driftProblems, type AppShape, type Variant } from '../../support/drift.js';

/**
 * The drift test: the app, as it registers its functions and declares its settings, against the
 * compiled Azure templates (infra/azure/main.json and events.json), deployed on paper the way
 * `azd up` would. Then each kind of drift, made on purpose in a copy, must be named.
 */

const root = path.resolve(import.meta.dirname, '../../..');
const readJson = (file: string): unknown => JSON.parse(readFileSync(path.join(root, file), 'utf8'));
const clone = <T>(value: T): T => structuredClone(value);

const API_TOKENS = 'ops:admin=0123456789abcdef0123456789abcdef';

/** The ways the deployment is meant to be used, each with the optional settings it turns on. */
const VARIANTS: Variant[] = [
  {
    name: 'the default (azd up with a generated API token)',
    parameters: { environmentName: 'jobs', location: 'westeurope', apiTokens: API_TOKENS },
    options: [],
  },
  {
    name: 'everything on (Entra sign-in, ACS email, pool identity, retention, alerts)',
    parameters: {
      environmentName: 'jobs-prod',
      location: 'northeurope',
      principalId: '5f2c7ab0-0000-4000-8000-00000000d0e5',
      apiTokens: API_TOKENS,
      emailEnabled: true,
      entraClientId: '0e3c2f6a-0000-4000-8000-00000000c11e',
      poolDataAccess: 'identity',
      jobFilesRetentionDays: 180,
      alertEmail: 'oncall@example.org',
      maxRunningJobsPerUser: 5,
    },
    options: ['CLOUDJOBS_ACS_EMAIL_ENDPOINT', 'CLOUDJOBS_EMAIL_FROM', 'CLOUDJOBS_BATCH_NODE_IDENTITY'],
  },
  {
    name: 'SMTP email and Entra sign-in without API tokens',
    parameters: {
      environmentName: 'jobs-smtp',
      location: 'eastus2',
      smtpUrl: 'smtps://jobs:app-password@smtp.example.org:465',
      smtpFrom: 'cloudjobs <jobs@example.org>',
      entraClientId: '0e3c2f6a-0000-4000-8000-00000000c11e',
    },
    options: ['CLOUDJOBS_EMAIL_FROM'],
  },
  {
    name: 'the dashboard (a Static Web App signing people in with Microsoft Entra ID)',
    parameters: {
      environmentName: 'jobs-dash',
      location: 'northeurope',
      entraClientId: '0e3c2f6a-0000-4000-8000-00000000c11e',
      entraClientSecret: 'client-secret-value-from-entra',
      dashboard: true,
    },
    options: ['CLOUDJOBS_STREAM_MAX_SECONDS'],
  },
];

let app: AppShape;
let templates: { main: unknown; events: unknown };

/** The functions as the app registers them, through the runtime's stand-in for the worker's core. */
async function registeredFunctions(): Promise<AppShape['functions']> {
  const functions: AppShape['functions'] = [];
  const core = installFunctionsCore();
  core.attach({
    registerFunction: ({ metadata }) => functions.push({ name: metadata.name, bindings: metadata.bindings }),
    unregisterFunction: () => undefined,
    systemLog: () => undefined,
  });
  for (const file of (await glob('functions/*.ts', { cwd: root, absolute: true })).sort()) {
    await import(pathToFileURL(file).href);
  }
  core.attach(undefined);
  return functions;
}

beforeAll(async () => {
  app = {
    functions: await registeredFunctions(),
    hostJson: readJson('host.json'),
    serviceBus: readJson('infra/local/servicebus.json') as AppShape['serviceBus'],
    eventGrid: readJson('infra/local/eventgrid.json') as AppShape['eventGrid'],
    containers: Object.values(CONTAINERS),
    tables: Object.values(TABLES),
    deployment: DEPLOYMENT,
  };
  templates = { main: readJson('infra/azure/main.json'), events: readJson('infra/azure/events.json') };
});

/** Walks a template, calling `visit` on every object and array, so a test can cut something out. */
function edit(value: unknown, visit: (node: Record<string, unknown> | unknown[]) => void): void {
  if (Array.isArray(value)) {
    visit(value);
    value.forEach((item) => edit(item, visit));
  } else if (value !== null && typeof value === 'object') {
    visit(value as Record<string, unknown>);
    Object.values(value).forEach((item) => edit(item, visit));
  }
}

/** Removes every array element `match` picks, wherever it is in the template. */
function removeElements(template: unknown, match: (item: unknown) => boolean): unknown {
  const copy = clone(template);
  let removed = 0;
  edit(copy, (node) => {
    if (!Array.isArray(node)) return;
    for (let i = node.length - 1; i >= 0; i--) {
      if (match(node[i])) {
        node.splice(i, 1);
        removed++;
      }
    }
  });
  expect(removed, 'the mutation found what it cuts').toBeGreaterThan(0);
  return copy;
}

/** Removes a property from every object that has it. */
function removeProperty(template: unknown, key: string): unknown {
  const copy = clone(template);
  let removed = 0;
  edit(copy, (node) => {
    if (!Array.isArray(node) && key in node) {
      delete node[key];
      removed++;
    }
  });
  expect(removed, 'the mutation found what it cuts').toBeGreaterThan(0);
  return copy;
}

/** Rewrites a piece of every template expression that has it (Bicep compiles objects with runtime values to createObject(...)). */
function rewriteExpressions(template: unknown, from: string, to: string): unknown {
  let rewritten = 0;
  const copy = JSON.parse(
    JSON.stringify(template, (_key, value: unknown) => {
      if (typeof value === 'string' && value.startsWith('[') && value.includes(from)) {
        rewritten++;
        return value.split(from).join(to);
      }
      return value;
    }),
  ) as unknown;
  expect(rewritten, 'the mutation found what it rewrites').toBeGreaterThan(0);
  return copy;
}

const defaults = VARIANTS[0]!;

describe('the Azure templates against the app (drift)', () => {
  it('should find the functions the app registers, Service Bus and Event Grid ones among them', () => {
    const types = app.functions.flatMap((fn) => Object.values(fn.bindings).map((b) => b.type));
    expect(types).toEqual(
      expect.arrayContaining(['serviceBusTrigger', 'serviceBus', 'eventGridTrigger', 'httpTrigger']),
    );
    expect(app.functions.map((fn) => fn.name)).toEqual(
      expect.arrayContaining(['taskEvents', 'inboxBlobCreated']),
    );
  });

  it.each(VARIANTS)('should agree with the app when deployed as $name', (variant) => {
    expect(driftProblems(app, templates, variant)).toEqual([]);
  });

  it.each([
    [
      "the link's backend left out",
      'the dashboard is linked to something other than the Function App',
      (t: unknown) => removeProperty(t, 'backendResourceId'),
    ],
    [
      "the dashboard's provider left out of the app's authentication",
      'does not take the dashboard',
      (t: unknown) => rewriteExpressions(t, 'azureStaticWebApps', 'staticWebAppsUnlinked'),
    ],
    [
      'a sign-in setting renamed',
      'AZURE_CLIENT_ID, AZURE_CLIENT_SECRET',
      (t: unknown) =>
        JSON.parse(JSON.stringify(t).replace('"AZURE_CLIENT_SECRET":', '"CLIENT_SECRET":')) as unknown,
    ],
    [
      'the client secret not stored',
      'which the templates do not store',
      (t: unknown) =>
        rewriteExpressions(
          t,
          "createObject('value', parameters('entraClientSecret'))",
          "createObject('value', '')",
        ),
    ],
    [
      'a region Static Web Apps lack',
      'where Static Web Apps cannot be created',
      (t: unknown) => rewriteExpressions(t, "parameters('dashboardLocation')", "'northeurope'"),
    ],
  ])('should name the dashboard drift: %s', (_what, named, mutate) => {
    const variant = VARIANTS.find((v) => v.parameters.dashboard === true)!;
    const problems = driftProblems(app, { ...templates, main: mutate(templates.main) }, variant);
    expect(problems.join('\n')).toContain(named);
  });

  it.each([
    [
      'a queue removed from the templates',
      'deliveries',
      () => ({
        ...templates,
        main: removeElements(templates.main, (item) => (item as { Name?: unknown })?.Name === 'deliveries'),
      }),
    ],
    [
      'a container removed',
      'container job-inbox',
      () => ({
        ...templates,
        main: removeElements(templates.main, (item) => item === 'job-inbox'),
      }),
    ],
    [
      'a table removed',
      'table inflight',
      () => ({
        ...templates,
        main: removeElements(templates.main, (item) => item === 'inflight'),
      }),
    ],
    [
      'a setting removed',
      'setting BATCH_ACCOUNT_URL',
      () => ({
        ...templates,
        main: rewriteExpressions(
          templates.main,
          "'BATCH_ACCOUNT_URL', reference('batch').outputs.url.value, ",
          '',
        ),
      }),
    ],
    [
      'an Event Grid subscription removed',
      'task-logs',
      () => ({
        ...templates,
        events: removeElements(
          templates.events,
          (item) => (item as { name?: unknown })?.name === 'task-logs',
        ),
      }),
    ],
    [
      "the app identity's Key Vault role removed",
      'lacks Key Vault Secrets User',
      () => ({
        ...templates,
        main: removeProperty(templates.main, 'vaultRole'),
      }),
    ],
    [
      'shared key access turned back on',
      'shared key',
      () => ({
        ...templates,
        main: removeProperty(templates.main, 'allowSharedKeyAccess'),
      }),
    ],
  ])('should name %s', (_what, named, mutate) => {
    const problems = driftProblems(app, mutate(), defaults);
    expect(problems.join('\n')).toContain(named);
  });

  it('should name what the app adds that the templates lack: a queue, a subscription, a container, a setting', () => {
    const grown: AppShape = {
      ...app,
      functions: [
        ...app.functions,
        {
          name: 'auditEvents',
          bindings: {
            trigger: {
              type: 'serviceBusTrigger',
              direction: 'in',
              queueName: 'audit-events',
              connection: 'ServiceBusConnection',
            },
          },
        },
        { name: 'resultCreated', bindings: { trigger: { type: 'eventGridTrigger', direction: 'in' } } },
      ],
      eventGrid: {
        subscriptions: [
          ...app.eventGrid.subscriptions,
          {
            name: 'results',
            destination: { functionName: 'resultCreated' },
            filter: {},
            retryPolicy: {},
            deadLetterDestination: { containerName: 'eventgrid-deadletter' },
          },
        ],
      },
      containers: [...app.containers, 'job-archive'],
      deployment: { ...app.deployment, CLOUDJOBS_ARCHIVE_DAYS: 'set' },
    };
    const problems = driftProblems(grown, templates, defaults).join('\n');
    expect(problems).toContain('queue audit-events (function auditEvents) is not created by the templates');
    expect(problems).toContain('Event Grid subscription results (for function resultCreated) is not created');
    expect(problems).toContain('container job-archive');
    expect(problems).toContain('setting CLOUDJOBS_ARCHIVE_DAYS is not set by the templates');
  });

  it('should name a setting that differs from the local emulator files or holds a secret', () => {
    const serviceBus = clone(app.serviceBus);
    serviceBus.UserConfig.Namespaces[0]!.Queues[0]!.Properties = {
      ...serviceBus.UserConfig.Namespaces[0]!.Queues[0]!.Properties,
      LockDuration: 'PT5M',
    };
    expect(driftProblems({ ...app, serviceBus }, templates, defaults).join('\n')).toMatch(
      /lockDuration is PT1M in the templates but PT5M/,
    );

    const leaky = rewriteExpressions(
      templates.main,
      "'CLOUDJOBS_INPUT_CONTAINERS', ",
      "'CLOUDJOBS_SMTP_URL', 'smtp://user:hunter2@mail.example.org', 'CLOUDJOBS_INPUT_CONTAINERS', ",
    );
    const problems = driftProblems(app, { ...templates, main: leaky }, defaults).join('\n');
    expect(problems).toContain(
      'setting CLOUDJOBS_SMTP_URL is a secret but its value is not a Key Vault reference',
    );
    expect(problems).toContain('setting CLOUDJOBS_SMTP_URL holds a credential in clear text');
  });

  it('should name host.json settings that do not suit Flex Consumption and Durable on Azure Storage', () => {
    const hostJson = clone(app.hostJson) as {
      extensions: { durableTask: { hubName: string; storageProvider: Record<string, unknown> } };
    };
    delete hostJson.extensions.durableTask.storageProvider.maxQueuePollingInterval;
    hostJson.extensions.durableTask.hubName = 'cloud-jobs';
    const problems = driftProblems({ ...app, hostJson }, templates, defaults).join('\n');
    expect(problems).toContain('maxQueuePollingInterval (default 30 s) is over the 10 s');
    expect(problems).toContain('hubName (cloud-jobs) is not a valid task hub name');
  });

  it('should create the pools given, with a container runtime only where asked, and the start task quoted', () => {
    const { main } = deployBoth(templates, {
      ...defaults.parameters,
      pools: [
        { name: 'default', vmSize: 'Standard_D2as_v5', dedicatedNodes: 0, spotNodes: 1, taskSlotsPerNode: 2 },
        {
          name: 'containers',
          vmSize: 'Standard_D4as_v5',
          dedicatedNodes: 1,
          spotNodes: 0,
          taskSlotsPerNode: 4,
          containers: true,
          startTask: "echo 'ready'",
        },
      ],
    });
    const pools = main.resources.filter((r) => r.type === 'Microsoft.Batch/batchAccounts/pools');
    const vm = (name: string) =>
      (
        pools.find((p) => p.name.endsWith(`/${name}`))!.properties.deploymentConfiguration as Record<
          string,
          Record<string, unknown>
        >
      ).virtualMachineConfiguration!;
    expect(vm('default')).not.toHaveProperty('containerConfiguration');
    expect(vm('default').imageReference).toMatchObject({ publisher: 'canonical', offer: 'ubuntu-24_04-lts' });
    expect(vm('containers')).toMatchObject({ containerConfiguration: { type: 'DockerCompatible' } });
    const startTask = pools.find((p) => p.name.endsWith('/containers'))!.properties.startTask as Record<
      string,
      unknown
    >;
    expect(startTask.commandLine).toBe(`/bin/bash -c 'echo '"'"'ready'"'"''`);
  });

  it('should refuse a deployment the app cannot start with: no API tokens and no sign-in', () => {
    const open = { ...defaults, parameters: { environmentName: 'open', location: 'westeurope' } };
    expect(driftProblems(app, templates, open).join('\n')).toMatch(
      /would not start.*CLOUDJOBS_API_TOKENS is required on Azure/,
    );
  });
});

import { ConfigError, loadConfig, type DeploymentUse } from '../../shared/config.js';
import { checkDashboard } from './driftDashboard.js';
import {
  deployTemplate,
  Unknown,
  type DeployedResource,
  type Deployment,
  type Value,
} from './armTemplate.js';

/**
 * Whether the Azure templates create exactly what the app expects: each check returns problems
 * that name the queue, subscription, container, table, setting or role, so a test can show both
 * that the real templates have none and that each kind of drift is caught.
 */

/** A binding of a registered function, as the Functions host receives it. */
export interface Binding {
  type?: string | null;
  direction?: string | null;
  queueName?: unknown;
  connection?: unknown;
  [setting: string]: unknown;
}

/** What the app declares: its functions, the local emulators' files, its storage and settings. */
export interface AppShape {
  functions: Array<{ name: string; bindings: Record<string, Binding> }>;
  hostJson: unknown;
  serviceBus: {
    UserConfig: {
      Namespaces: Array<{
        Queues: Array<{ Name: string; Properties?: Record<string, unknown> }>;
      }>;
    };
  };
  eventGrid: {
    subscriptions: Array<{
      name: string;
      destination: { functionName: string };
      filter?: Record<string, unknown>;
      retryPolicy?: Record<string, unknown>;
      deadLetterDestination?: { containerName: string };
    }>;
  };
  containers: string[];
  tables: string[];
  deployment: Readonly<Record<string, DeploymentUse>>;
}

/** One way of deploying: the parameters, and which optional features they turn on. */
export interface Variant {
  name: string;
  parameters: Record<string, Value>;
  /** The `option` settings this variant must set. */
  options: string[];
}

/** Settings Flex Consumption refuses or ignores (its configuration replaces them). */
const FLEX_FORBIDDEN = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'FUNCTIONS_WORKER_RUNTIME_VERSION',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTSHARE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'SCM_DO_BUILD_DURING_DEPLOYMENT',
  'ENABLE_ORYX_BUILD',
  'WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT',
  'FUNCTIONS_WORKER_PROCESS_COUNT',
];

/** What a setting Azure fills in at deployment looks like, by its name. */
const STAND_INS: Array<[RegExp, string]> = [
  [
    /^APPLICATIONINSIGHTS_CONNECTION_STRING$/,
    'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/',
  ],
  [/URL|ENDPOINT|Uri/i, 'https://runtime.example.azure.net'],
  [/EMAIL_FROM/, 'DoNotReply@runtime.azurecomm.net'],
];

/** Built-in roles, by the name the problems use. */
export const ROLES = {
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  'Storage Blob Data Reader': '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1',
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  'Azure Service Bus Data Sender': '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39',
  'Azure Service Bus Data Receiver': '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0',
  'Azure Batch Data Contributor': '6aaa78f1-f7de-44ca-8722-c64a23943cae',
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
  'Key Vault Secrets Officer': 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
  'Communication and Email Service Owner': '09976791-48a7-449e-bb21-39d1a415f350',
} as const;
type RoleName = keyof typeof ROLES;
const roleName = (id: string): string =>
  Object.entries(ROLES).find(([, guid]) => id.toLowerCase().endsWith(guid))?.[0] ?? id.split('/').pop()!;
/** Owner, Contributor, User Access Administrator: never for an app or a pool. */
const BROAD_ROLES = [
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  'b24988ac-6180-42a0-ab88-20f7382dd24c',
  '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
];

export const text = (value: Value | undefined): string =>
  value instanceof Unknown ? value.text : typeof value === 'string' ? value : JSON.stringify(value ?? null);

const lastSegment = (name: string) => name.split('/').pop()!;

/** A role assignment, with its scope as `type` and `name` (`account/default/container`). */
interface Assignment {
  scopeType: string;
  scopeName: string;
  role: string;
  principal: string;
}

function assignments(resources: DeployedResource[]): Assignment[] {
  return resources
    .filter((r) => r.type === 'Microsoft.Authorization/roleAssignments')
    .map((r) => {
      const scope = text(r.fields.scope);
      // Bicep writes an existing resource's scope as `<provider>/<type>/<name>[/<type>/<name>...]`.
      const parts = scope
        .replace(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\//, '')
        .split('/');
      const types = [`${parts[0]}/${parts[1]}`];
      const names = [parts[2]];
      for (let i = 3; i + 1 < parts.length; i += 2) {
        types.push(parts[i]!);
        names.push(parts[i + 1]);
      }
      return {
        scopeType: scope.includes('/') ? types.join('/') : scope,
        scopeName: names.join('/'),
        role: text(r.properties.roleDefinitionId),
        principal: text(r.properties.principalId),
      };
    });
}

/** Evaluates both templates the way `azd up` deploys them: main.json, then events.json. */
export function deployBoth(
  templates: { main: unknown; events: unknown },
  parameters: Record<string, Value>,
): { main: Deployment; events: Deployment } {
  const main = deployTemplate(templates.main, parameters);
  const outputs = main.outputs;
  const events = deployTemplate(
    templates.events,
    {
      functionAppName: outputs.AZURE_FUNCTION_APP_NAME ?? null,
      systemTopicName: outputs.AZURE_EVENT_GRID_TOPIC ?? null,
      storageAccountName: outputs.AZURE_STORAGE_ACCOUNT ?? null,
    },
    { resourceGroup: text(outputs.AZURE_RESOURCE_GROUP) },
  );
  return { main, events };
}

interface RoleNeed {
  role: RoleName;
  scopeType: string;
  scopeName: string;
  why: string;
}

/** One drift check under way: the app, the deployment, and what the checks have found so far. */
export class DriftCheck {
  readonly problems: string[] = [];
  /** Roles the app's identity needs, as the checks find reasons for them. */
  readonly needed: RoleNeed[] = [];
  readonly all: DeployedResource[];
  readonly site: DeployedResource | undefined;
  readonly settings: Record<string, Value>;
  readonly appPrincipal: string;
  readonly roles: ReturnType<typeof assignments>;

  constructor(
    readonly app: AppShape,
    readonly main: Deployment,
    readonly events: Deployment,
    readonly variant: Variant,
  ) {
    this.all = main.resources;
    this.site = this.one('Microsoft.Web/sites');
    const settingsResource = this.all.find(
      (r) => r.type === 'Microsoft.Web/sites/config' && r.name.endsWith('/appsettings'),
    );
    this.settings = settingsResource?.properties ?? {};
    if (!settingsResource) this.problems.push('the Function App has no appsettings');
    this.appPrincipal = this.site
      ? `reference(Microsoft.Web/sites ${this.site.name}).identity.principalId`
      : '';
    this.roles = assignments(this.all);
  }

  ofType(type: string): DeployedResource[] {
    return this.all.filter((r) => r.type.toLowerCase() === type.toLowerCase());
  }

  /** The one resource of a type, noting a problem when there are none or several. */
  one(type: string): DeployedResource | undefined {
    const found = this.ofType(type);
    if (found.length !== 1) this.problems.push(`the templates create ${found.length} ${type}, not one`);
    return found[0];
  }

  hasRole(principal: string, role: RoleName, scopeType: string, scopeName: string): boolean {
    return this.roles.some(
      (a) =>
        a.principal === principal &&
        a.role.toLowerCase().endsWith(ROLES[role]) &&
        a.scopeType.toLowerCase() === scopeType.toLowerCase() &&
        a.scopeName === scopeName,
    );
  }
}

/** Every way `app` and the templates deployed as `variant` disagree. */
export function driftProblems(
  app: AppShape,
  templates: { main: unknown; events: unknown },
  variant: Variant,
): string[] {
  const { main, events } = deployBoth(templates, variant.parameters);
  const c = new DriftCheck(app, main, events, variant);
  // The role check comes after every check that finds a role the app's identity needs.
  for (const check of [
    checkFunctionApp,
    checkSettings,
    checkStartup,
    checkStorage,
    checkServiceBus,
    checkBatch,
    checkTelemetryAndEmail,
    checkJobSecrets,
    checkDashboard,
    checkRoles,
    checkDurable,
  ])
    check(c);
  return c.problems;
}

/** The Function App: Flex Consumption, Node, its own identity. */
function checkFunctionApp(c: DriftCheck): void {
  const plan = c.one('Microsoft.Web/serverfarms');
  if (plan && text(plan.fields.sku).indexOf('FC1') < 0)
    c.problems.push('the plan is not Flex Consumption (FC1)');
  if (c.site) {
    const identity = c.site.fields.identity as Record<string, Value> | undefined;
    if (text(identity?.type) !== 'SystemAssigned')
      c.problems.push('the Function App has no system-assigned identity');
    const config = c.site.properties.functionAppConfig as Record<string, Record<string, Value>> | undefined;
    if (text(config?.runtime?.name) !== 'node') c.problems.push('the Function App does not run Node');
  }
}

/** Settings: each declared key as the deployment declaration says, nothing unknown, no secret. */
function checkSettings(c: DriftCheck): void {
  const connections = new Set(
    c.app.functions.flatMap((fn) =>
      Object.values(fn.bindings)
        .filter((b) => typeof b.connection === 'string')
        .map((b) => b.connection as string),
    ),
  );
  for (const [key, use] of Object.entries(c.app.deployment)) {
    const present = key in c.settings;
    if (use === 'set' && !present) c.problems.push(`setting ${key} is not set by the templates`);
    if (use === 'option' && c.variant.options.includes(key) && !present)
      c.problems.push(
        `setting ${key} is not set by the templates when ${c.variant.name} turns its feature on`,
      );
    if (['platform', 'never', 'default'].includes(use) && present)
      c.problems.push(`setting ${key} is set by the templates, but the app declares it "${use}"`);
    if (
      use === 'secret' &&
      present &&
      !/^@Microsoft\.KeyVault\(VaultName=[^;]+;SecretName=[^)]+\)$/.test(text(c.settings[key]))
    )
      c.problems.push(`setting ${key} is a secret but its value is not a Key Vault reference`);
  }
  for (const [key, value] of Object.entries(c.settings)) {
    const connection = key.split('__')[0]!;
    const known = key in c.app.deployment || (connections.has(connection) && key.includes('__'));
    if (!known)
      c.problems.push(`setting ${key} is set by the templates but nothing in the app or the host reads it`);
    if (FLEX_FORBIDDEN.includes(key)) c.problems.push(`setting ${key} is not allowed on Flex Consumption`);
    const valueText = text(value);
    if (/(AccountKey|SharedAccessKey|accesskey)=|[?&]sig=|:\/\/[^/@\s]+:[^/@\s]+@/i.test(valueText))
      c.problems.push(`setting ${key} holds a credential in clear text`);
    const vault = /^@Microsoft\.KeyVault\(VaultName=([^;]+);SecretName=([^)]+)\)$/.exec(valueText);
    if (vault) {
      const [, vaultName, secretName] = vault;
      if (!c.ofType('Microsoft.KeyVault/vaults/secrets').some((r) => r.name === `${vaultName}/${secretName}`))
        c.problems.push(
          `setting ${key} refers to Key Vault secret ${secretName}, which the templates do not store`,
        );
      c.needed.push({
        role: 'Key Vault Secrets User',
        scopeType: 'Microsoft.KeyVault/vaults',
        scopeName: vaultName!,
        why: `${key} is a Key Vault reference`,
      });
    }
  }
}

/** The app must start with these settings, as on Azure (the platform adds WEBSITE_*). */
function checkStartup(c: DriftCheck): void {
  const secrets: Record<string, Value> = {
    'cloudjobs-api-tokens': c.variant.parameters.apiTokens ?? '',
    'cloudjobs-smtp-url': c.variant.parameters.smtpUrl ?? '',
  };
  const environment: Record<string, string> = { WEBSITE_SITE_NAME: c.site?.name ?? 'app' };
  if (c.all.some((r) => r.name.endsWith('/authsettingsV2'))) environment.WEBSITE_AUTH_ENABLED = 'True';
  for (const [key, value] of Object.entries(c.settings)) {
    const vault = /SecretName=([^)]+)\)$/.exec(text(value));
    environment[key] =
      // A value Azure fills in, stood in for by one of its kind.
      value instanceof Unknown
        ? (STAND_INS.find(([pattern]) => pattern.test(key))?.[1] ?? 'known-at-deployment')
        : vault
          ? text(secrets[vault[1]!] ?? '')
          : text(value);
  }
  try {
    const config = loadConfig(environment);
    const pools = c.ofType('Microsoft.Batch/batchAccounts/pools').map((r) => lastSegment(r.name));
    if (!pools.includes(config.defaultPool))
      c.problems.push(
        `CLOUDJOBS_DEFAULT_POOL is ${config.defaultPool}, which is not one of the pools (${pools.join(', ')})`,
      );
    if (config.storage.kind !== 'identity')
      c.problems.push('the app would reach storage with a connection string');
  } catch (error) {
    c.problems.push(
      `the app would not start with these settings: ${error instanceof ConfigError ? error.problems.join('; ') : String(error)}`,
    );
  }
}

/** Storage: identity only, every container and table the app uses. */
function checkStorage(c: DriftCheck): void {
  const account = c.one('Microsoft.Storage/storageAccounts');
  if (account) {
    if (account.properties.allowSharedKeyAccess !== false)
      c.problems.push('the storage account allows shared key access');
    const storageName = account.name;
    for (const key of ['accountName', 'blobServiceUri', 'queueServiceUri', 'tableServiceUri']) {
      const value = text(c.settings[`AzureWebJobsStorage__${key}`]);
      if (!value.includes(storageName))
        c.problems.push(`setting AzureWebJobsStorage__${key} does not name storage account ${storageName}`);
    }
    c.needed.push(
      {
        role: 'Storage Blob Data Owner',
        scopeType: 'Microsoft.Storage/storageAccounts',
        scopeName: storageName,
        why: 'the host keeps its leases and package in blobs',
      },
      {
        role: 'Storage Queue Data Contributor',
        scopeType: 'Microsoft.Storage/storageAccounts',
        scopeName: storageName,
        why: 'Durable Functions keeps its queues there',
      },
      {
        role: 'Storage Table Data Contributor',
        scopeType: 'Microsoft.Storage/storageAccounts',
        scopeName: storageName,
        why: 'the job store and Durable history are tables',
      },
    );
    const containers = c
      .ofType('Microsoft.Storage/storageAccounts/blobServices/containers')
      .map((r) => lastSegment(r.name));
    const tables = c
      .ofType('Microsoft.Storage/storageAccounts/tableServices/tables')
      .map((r) => lastSegment(r.name));
    const prefix = text(c.settings.CLOUDJOBS_TABLE_PREFIX ?? '');
    for (const container of c.app.containers)
      if (!containers.includes(container))
        c.problems.push(`container ${container} (the app's) is not created by the templates`);
    for (const table of c.app.tables)
      if (!tables.includes(`${prefix}${table}`))
        c.problems.push(`table ${prefix}${table} (the app's) is not created by the templates`);
    for (const container of text(c.settings.CLOUDJOBS_INPUT_CONTAINERS ?? '')
      .split(',')
      .filter(Boolean))
      if (!containers.includes(container))
        c.problems.push(`input container ${container} is not created by the templates`);
    const blobService = c.ofType('Microsoft.Storage/storageAccounts/blobServices')[0];
    if (blobService?.properties.isVersioningEnabled !== false) c.problems.push('blob versioning is not off');
    const deploymentStorage = text(
      (
        c.site?.properties.functionAppConfig as
          Record<string, Record<string, Record<string, Value>>> | undefined
      )?.deployment?.storage?.value ?? '',
    );
    if (!containers.some((container) => deploymentStorage.endsWith(`/${container}`)))
      c.problems.push(`the Flex deployment container (${deploymentStorage}) is not created by the templates`);

    checkEventGrid(c, storageName, containers);
  }
}

/** Event Grid: one subscription per Event Grid function, as infra/local/eventgrid.json has it. */
function checkEventGrid(c: DriftCheck, storageName: string, containers: string[]): void {
  const topic = c.one('Microsoft.EventGrid/systemTopics');
  if (topic && !text(topic.properties.source).includes(storageName))
    c.problems.push('the Event Grid system topic is not on the storage account');
  const eventFunctions = c.app.functions.filter((fn) =>
    Object.values(fn.bindings).some((b) => b.type === 'eventGridTrigger'),
  );
  const subscriptions = c.events.resources.filter(
    (r) => r.type === 'Microsoft.EventGrid/systemTopics/eventSubscriptions',
  );
  for (const fn of eventFunctions) {
    const local = c.app.eventGrid.subscriptions.find((s) => s.destination.functionName === fn.name);
    if (!local) {
      c.problems.push(`Event Grid function ${fn.name} has no entry in infra/local/eventgrid.json`);
      continue;
    }
    const deployed = subscriptions.find((r) => lastSegment(r.name) === local.name);
    if (!deployed) {
      c.problems.push(
        `Event Grid subscription ${local.name} (for function ${fn.name}) is not created by the templates`,
      );
      continue;
    }
    const destination = deployed.properties.destination as Record<string, Record<string, Value> | Value>;
    const target = text((destination.properties as Record<string, Value>).resourceId);
    if (
      text(destination.endpointType) !== 'AzureFunction' ||
      !target.endsWith(`/functions/${fn.name}`) ||
      !target.includes(c.site?.name ?? '?')
    )
      c.problems.push(
        `Event Grid subscription ${local.name} does not deliver to function ${fn.name} of the app`,
      );
    if (JSON.stringify(deployed.properties.filter) !== JSON.stringify(local.filter ?? {}))
      c.problems.push(
        `Event Grid subscription ${local.name}: its filter differs from infra/local/eventgrid.json`,
      );
    if (JSON.stringify(deployed.properties.retryPolicy) !== JSON.stringify(local.retryPolicy ?? {}))
      c.problems.push(
        `Event Grid subscription ${local.name}: its retry policy differs from infra/local/eventgrid.json`,
      );
    const deadLetter = deployed.properties.deadLetterWithResourceIdentity as
      Record<string, Record<string, Record<string, Value>>> | undefined;
    const deadLetterContainer = text(deadLetter?.deadLetterDestination?.properties?.blobContainerName);
    if (!local.deadLetterDestination || deadLetterContainer !== local.deadLetterDestination.containerName)
      c.problems.push(
        `Event Grid subscription ${local.name}: its dead-letter container differs from infra/local/eventgrid.json`,
      );
    else if (!containers.includes(deadLetterContainer))
      c.problems.push(
        `Event Grid dead-letter container ${deadLetterContainer} is not created by the templates`,
      );
    else if (
      topic &&
      !c.roles.some(
        (a) =>
          a.principal === `reference(Microsoft.EventGrid/systemTopics ${topic.name}).identity.principalId` &&
          a.scopeName.endsWith(`/${deadLetterContainer}`) &&
          a.role.endsWith(ROLES['Storage Blob Data Contributor']),
      )
    )
      c.problems.push(`the Event Grid topic cannot write dead letters to ${deadLetterContainer}`);
  }
  for (const local of c.app.eventGrid.subscriptions) {
    if (!eventFunctions.some((fn) => fn.name === local.destination.functionName))
      c.problems.push(
        `infra/local/eventgrid.json subscribes ${local.name} to ${local.destination.functionName}, which is not an Event Grid function`,
      );
  }
  for (const deployed of subscriptions) {
    if (!c.app.eventGrid.subscriptions.some((s) => s.name === lastSegment(deployed.name)))
      c.problems.push(
        `Event Grid subscription ${lastSegment(deployed.name)} is created but the app has no such subscription`,
      );
  }
}

/** Service Bus: every queue a function uses, with the local settings, reached by identity. */
function checkServiceBus(c: DriftCheck): void {
  const namespace = c.one('Microsoft.ServiceBus/namespaces');
  if (namespace) {
    if (namespace.properties.disableLocalAuth !== true)
      c.problems.push('the Service Bus namespace accepts SAS keys');
    const localQueues = c.app.serviceBus.UserConfig.Namespaces.flatMap((n) => n.Queues);
    const deployedQueues = c.ofType('Microsoft.ServiceBus/namespaces/queues');
    const used = new Map<string, string>();
    let triggers = false;
    let outputs = false;
    for (const fn of c.app.functions) {
      for (const binding of Object.values(fn.bindings)) {
        if (!String(binding.type).startsWith('serviceBus')) continue;
        used.set(String(binding.queueName), fn.name);
        if (binding.direction === 'in') triggers = true;
        else outputs = true;
        const connection = String(binding.connection);
        if (!text(c.settings[`${connection}__fullyQualifiedNamespace`]).includes(namespace.name))
          c.problems.push(
            `setting ${connection}__fullyQualifiedNamespace (function ${fn.name}) does not name namespace ${namespace.name}`,
          );
        if (text(c.settings[`${connection}__credential`]) !== 'managedidentity')
          c.problems.push(`setting ${connection}__credential (function ${fn.name}) is not managedidentity`);
      }
    }
    for (const [queue, fn] of used) {
      const deployed = deployedQueues.find((r) => lastSegment(r.name) === queue);
      const local = localQueues.find((q) => q.Name === queue);
      if (!local) c.problems.push(`queue ${queue} (function ${fn}) is not in infra/local/servicebus.json`);
      if (!deployed) {
        c.problems.push(`queue ${queue} (function ${fn}) is not created by the templates`);
        continue;
      }
      const expected: Record<string, Value> = {
        maxDeliveryCount: (local?.Properties?.MaxDeliveryCount as number | undefined) ?? 10,
        lockDuration: (local?.Properties?.LockDuration as string | undefined) ?? 'PT1M',
        defaultMessageTimeToLive: (local?.Properties?.DefaultMessageTimeToLive as string | undefined) ?? null,
        deadLetteringOnMessageExpiration:
          (local?.Properties?.DeadLetteringOnMessageExpiration as boolean | undefined) ?? false,
      };
      for (const [property, value] of Object.entries(expected)) {
        if (JSON.stringify(deployed.properties[property] ?? null) !== JSON.stringify(value))
          c.problems.push(
            `queue ${queue}: ${property} is ${text(deployed.properties[property])} in the templates but ${text(value)} in infra/local/servicebus.json`,
          );
      }
    }
    for (const queue of localQueues)
      if (!used.has(queue.Name))
        c.problems.push(`queue ${queue.Name} is in infra/local/servicebus.json but no function uses it`);
    for (const queue of deployedQueues)
      if (!used.has(lastSegment(queue.name)))
        c.problems.push(`queue ${lastSegment(queue.name)} is created but no function uses it`);
    if (triggers)
      c.needed.push({
        role: 'Azure Service Bus Data Receiver',
        scopeType: 'Microsoft.ServiceBus/namespaces',
        scopeName: namespace.name,
        why: 'functions are triggered by its queues',
      });
    if (outputs)
      c.needed.push({
        role: 'Azure Service Bus Data Sender',
        scopeType: 'Microsoft.ServiceBus/namespaces',
        scopeName: namespace.name,
        why: 'functions send to its queues',
      });
  }
}

/** Batch: Microsoft Entra only, the app's role, the pools' identity when it reaches storage. */
function checkBatch(c: DriftCheck): void {
  const batch = c.one('Microsoft.Batch/batchAccounts');
  if (batch) {
    if (JSON.stringify(batch.properties.allowedAuthenticationModes) !== JSON.stringify(['AAD']))
      c.problems.push('the Batch account accepts more than Microsoft Entra authentication');
    if (!text(c.settings.BATCH_ACCOUNT_URL).includes(batch.name))
      c.problems.push(`setting BATCH_ACCOUNT_URL does not name Batch account ${batch.name}`);
    c.needed.push({
      role: 'Azure Batch Data Contributor',
      scopeType: 'Microsoft.Batch/batchAccounts',
      scopeName: batch.name,
      why: 'the app runs jobs and manages pools',
    });
    const nodeIdentity = c.settings.CLOUDJOBS_BATCH_NODE_IDENTITY;
    if (nodeIdentity !== undefined) {
      const identity = text(nodeIdentity);
      for (const pool of c.ofType('Microsoft.Batch/batchAccounts/pools')) {
        const assigned = Object.keys(
          (pool.fields.identity as Record<string, Record<string, Value>>)?.userAssignedIdentities ?? {},
        );
        if (!assigned.includes(identity))
          c.problems.push(
            `pool ${lastSegment(pool.name)} does not have the identity CLOUDJOBS_BATCH_NODE_IDENTITY names`,
          );
      }
      const principal = `reference(Microsoft.ManagedIdentity/userAssignedIdentities ${lastSegment(identity)}).principalId`;
      for (const container of ['jobs', 'job-logs'])
        if (
          !c.roles.some(
            (a) =>
              a.principal === principal &&
              a.scopeName.endsWith(`/${container}`) &&
              a.role.endsWith(ROLES['Storage Blob Data Contributor']),
          )
        )
          c.problems.push(`the pools' identity cannot write to container ${container}`);
    }
  }
}

/** Telemetry and email through the identity. */
function checkTelemetryAndEmail(c: DriftCheck): void {
  const insights = c.one('Microsoft.Insights/components');
  if (insights && insights.properties.DisableLocalAuth !== true)
    c.problems.push('Application Insights accepts the instrumentation key');
  if (insights && text(c.settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING) === 'Authorization=AAD')
    c.needed.push({
      role: 'Monitoring Metrics Publisher',
      scopeType: 'Microsoft.Insights/components',
      scopeName: insights.name,
      why: 'telemetry is sent with the identity',
    });
  if (c.settings.CLOUDJOBS_ACS_EMAIL_ENDPOINT !== undefined) {
    const communication = c.one('Microsoft.Communication/communicationServices');
    if (communication)
      c.needed.push({
        role: 'Communication and Email Service Owner',
        scopeType: 'Microsoft.Communication/communicationServices',
        scopeName: communication.name,
        why: 'email is sent with the identity',
      });
  }
}

/**
 * Users' secrets: in a vault of their own, which the app manages (set, list, delete, read) and
 * which holds none of the app's settings.
 */
function checkJobSecrets(c: DriftCheck): void {
  const setting = c.settings.CLOUDJOBS_KEY_VAULT_URL;
  if (setting === undefined) return;
  const vault = c.ofType('Microsoft.KeyVault/vaults').find((v) => text(setting).includes(v.name));
  if (!vault) {
    c.problems.push('setting CLOUDJOBS_KEY_VAULT_URL names no Key Vault the templates make');
    return;
  }
  if (vault.properties.enableRbacAuthorization !== true)
    c.problems.push(`Key Vault ${vault.name} (users' secrets) uses access policies, not roles`);
  for (const [key, value] of Object.entries(c.settings)) {
    if (text(value).includes(`VaultName=${vault.name};`))
      c.problems.push(`setting ${key} keeps an app secret in ${vault.name}, the vault of users' secrets`);
  }
  c.needed.push({
    role: 'Key Vault Secrets Officer',
    scopeType: 'Microsoft.KeyVault/vaults',
    scopeName: vault.name,
    why: 'users set and delete their secrets through the app',
  });
}

/** Roles: the app's identity has what the checks before found it needs, and nothing more; nothing has a broad role. */
function checkRoles(c: DriftCheck): void {
  for (const need of c.needed) {
    if (!c.hasRole(c.appPrincipal, need.role, need.scopeType, need.scopeName))
      c.problems.push(`the app's identity lacks ${need.role} on ${need.scopeName} (${need.why})`);
  }
  for (const assignment of c.roles) {
    if (BROAD_ROLES.some((guid) => assignment.role.toLowerCase().endsWith(guid)))
      c.problems.push(
        `role ${roleName(assignment.role)} is assigned on ${assignment.scopeName}: broader than anything here needs`,
      );
    if (
      assignment.principal === c.appPrincipal &&
      !c.needed.some((n) => assignment.role.endsWith(ROLES[n.role]) && n.scopeName === assignment.scopeName)
    )
      c.problems.push(
        `the app's identity has ${roleName(assignment.role)} on ${assignment.scopeName}, which nothing needs`,
      );
  }
}

/** Durable Functions: the task hub in host.json, on the storage the templates connect. */
function checkDurable(c: DriftCheck): void {
  const durable = (
    c.app.hostJson as {
      extensions?: { durableTask?: { hubName?: string; storageProvider?: { connectionName?: string } } };
    }
  ).extensions?.durableTask;
  if (!durable?.hubName || !/^[A-Za-z][A-Za-z0-9]{2,44}$/.test(durable.hubName))
    c.problems.push(`host.json durableTask.hubName (${durable?.hubName}) is not a valid task hub name`);
  const durableConnection = durable?.storageProvider?.connectionName ?? 'AzureWebJobsStorage';
  for (const service of ['blob', 'queue', 'table'])
    if (!(`${durableConnection}__${service}ServiceUri` in c.settings))
      c.problems.push(
        `Durable Functions' storage (${durableConnection}) has no ${service} service URI setting`,
      );
  // Flex Consumption: Durable on Azure Storage wants a short polling ceiling, and bundle 4 or later.
  const polling = (durable?.storageProvider as { maxQueuePollingInterval?: string } | undefined)
    ?.maxQueuePollingInterval;
  const [hours = 0, minutes = 0, seconds = 0] = (polling ?? '00:00:30').split(':').map(Number);
  if (hours * 3600 + minutes * 60 + seconds > 10)
    c.problems.push(
      `host.json maxQueuePollingInterval (${polling ?? 'default 30 s'}) is over the 10 s Flex Consumption asks for`,
    );
  const bundle =
    (c.app.hostJson as { extensionBundle?: { version?: string } }).extensionBundle?.version ?? '';
  if (!/^\[4\./.test(bundle))
    c.problems.push(`host.json extension bundle ${bundle} is not 4.x, which Flex Consumption needs`);
  for (const placeholder of JSON.stringify(c.app.hostJson).matchAll(/%([A-Za-z0-9_]+)%/g))
    if (!(placeholder[1]! in c.settings))
      c.problems.push(`host.json uses %${placeholder[1]}%, which no setting provides`);
}

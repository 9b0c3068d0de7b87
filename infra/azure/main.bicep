// cloudjobs on Azure: everything the app needs, reached with Microsoft Entra identities only.
// `azd up` deploys this (infra/azure, per azure.yaml), then the code, then the Event Grid
// subscriptions (events.bicep), which need the deployed functions. docs/deploy.md explains it all.
targetScope = 'subscription'

import { poolSpec, preset } from 'types.bicep'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it names the resource group and tags every resource.')
param environmentName string

@minLength(1)
@description('Region for every resource.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of whoever runs the deployment; may then manage the Key Vault secrets. Empty grants nothing.')
param principalId string = ''

@description('Whether principalId is a User or a ServicePrincipal (a pipeline).')
@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

@secure()
@description('CLOUDJOBS_API_TOKENS: name=token pairs (name:admin=token for an admin), kept in Key Vault. Required unless entraClientId turns on App Service authentication.')
param apiTokens string = ''

@secure()
@description('CLOUDJOBS_SMTP_URL for email through an SMTP server (it holds the password, so it is kept in Key Vault); empty for none.')
param smtpUrl string = ''

@description('Sender of SMTP email, e.g. "cloudjobs <jobs@example.org>"; used with smtpUrl.')
param smtpFrom string = ''

@description('Create Azure Communication Services email and send through it with the app\'s identity (instead of SMTP).')
param emailEnabled bool = false

@description('Client id of a Microsoft Entra app registration: turns on App Service authentication, and signed-in users own their jobs. Empty keeps API tokens only.')
param entraClientId string = ''

@description('Tenant of that app registration.')
param entraTenantId string = tenant().tenantId

@secure()
@description('Client secret of that app registration: the dashboard signs people in with it (kept in Key Vault).')
param entraClientSecret string = ''

@description('Deploy the dashboard, a Static Web App in front of the API; needs entraClientId and entraClientSecret.')
param dashboard bool = false

@description('Region of the dashboard\'s Static Web App (its content is served worldwide).')
@allowed(['westus2', 'centralus', 'eastus2', 'westeurope', 'eastasia'])
param dashboardLocation string = 'westeurope'

@description('App role (in the app registration) whose holders are cloudjobs admins.')
param adminRole string = 'cloudjobs.admin'

@description('The Batch pools to create; jobs name one in "pool".')
param pools poolSpec[] = [
  {
    name: 'default'
    vmSize: 'Standard_D2as_v5'
    dedicatedNodes: 0
    spotNodes: 1
    taskSlotsPerNode: 2
  }
]

@description('Pool of a job that names none; one of pools.')
param defaultPool string = 'default'

@description('How Batch nodes reach job files: "sas", per-job SAS URLs (the default: a task cannot reach other jobs\' files), or "identity", the pools\' managed identity (no SAS, but every task on a node can use the identity).')
@allowed(['sas', 'identity'])
param poolDataAccess string = 'sas'

@description('Containers, besides the app\'s own, that jobs may take blob inputs from; each is created.')
param inputContainers string[] = ['inputs']

@description('Jobs one user may have on Batch at once; more wait BLOCKED. 0 for no limit.')
@minValue(0)
param maxRunningJobsPerUser int = 0

@description('Days after it ends that a job is forgotten with its logs, outputs, Batch job and orchestration history (checked hourly). 0 keeps jobs until deleted.')
@minValue(0)
param retentionDays int = 0

@description('Refuse jobs naming a pool that does not exist, instead of holding them BLOCKED until an admin makes it.')
param poolsFixed bool = false

@description('Resource presets jobs may name instead of a pool: [{ name, description, cpus, memoryGiB, gpus, spot, pool, slots }], each on a pool of this deployment.')
param presets preset[] = []

@description('Days after which task logs are deleted; 0 keeps them.')
@minValue(0)
param logRetentionDays int = 90

@description('Days after which job files (outputs, plans, large specs) are deleted; 0 keeps them. A job whose files expired still shows its record.')
@minValue(0)
param jobFilesRetentionDays int = 0

@description('Address alert notifications go to; empty for none.')
param alertEmail string = ''

@description('Hours a job may stay in one non-final state before an alert fires.')
@minValue(1)
param stuckJobHours int = 24

@description('Node.js version of the Function App.')
@allowed(['20', '22'])
param nodeVersion string = '20'

@description('Most Function App instances.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each Function App instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('HTTP requests one instance serves at once before another is added. Event streams stay open for minutes and are idle most of the time, so the default of 16 would add an instance per 16 watchers.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 100

@description('Always-ready instances for orchestrations and activities (each is billed while idle); 0 lets the durable group scale to zero.')
@minValue(0)
param durableAlwaysReady int = 1

var tags = { 'azd-env-name': environmentName }
var token = toLower(uniqueString(subscription().id, environmentName, location))
var names = {
  resourceGroup: 'rg-${environmentName}'
  storage: 'st${token}'
  serviceBus: 'sb-${token}'
  batch: 'ba${token}'
  poolIdentity: 'id-pool-${token}'
  keyVault: 'kv-${token}'
  jobSecretsVault: 'kvjobs-${token}'
  workspace: 'log-${token}'
  appInsights: 'appi-${token}'
  plan: 'plan-${token}'
  functionApp: 'func-${token}'
  systemTopic: 'evgt-${token}'
  communication: 'acs-${token}'
  emailService: 'ecs-${token}'
  alerts: 'cloudjobs-${token}'
  dashboard: 'stapp-${token}'
}
var dashboardOn = dashboard && !empty(entraClientId) && !empty(entraClientSecret)
var openIdIssuer = '${environment().authentication.loginEndpoint}${entraTenantId}/v2.0'

// The app's containers and tables (shared/storageLayout.ts); the drift test holds these to it.
var appContainers = ['jobs', 'job-logs', 'job-inbox', 'job-inbox-rejected', 'uploads']
var appTables = ['jobs', 'jobindex', 'idempotency', 'tasks', 'templates', 'inflight', 'subscriptions', 'deliveries']
var eventGrid = loadJsonContent('../local/eventgrid.json')
var deadLetterContainers = map(eventGrid.subscriptions, subscription => subscription.deadLetterDestination.containerName)
var deploymentContainer = 'app-package-${token}'
var serviceBusQueues = loadJsonContent('../local/servicebus.json').UserConfig.Namespaces[0].Queues

var secretNames = {
  apiTokens: 'cloudjobs-api-tokens'
  smtpUrl: 'cloudjobs-smtp-url'
  entraClientSecret: 'cloudjobs-entra-client-secret'
}
var keyVaultReference = '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName={0})'

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  scope: rg
  params: {
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    location: location
    tags: tags
    retentionDays: 30
  }
}

module storage 'modules/storage.bicep' = {
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    containers: union(appContainers, inputContainers, deadLetterContainers)
    tables: appTables
    deploymentContainer: deploymentContainer
    logRetentionDays: logRetentionDays
    jobFilesRetentionDays: jobFilesRetentionDays
    logsContainer: 'job-logs'
    jobsContainer: 'jobs'
    uploadOrigins: dashboardOn ? ['https://${staticWebApp!.outputs.hostName}'] : []
  }
}

module serviceBus 'modules/serviceBus.bicep' = {
  scope: rg
  params: {
    name: names.serviceBus
    location: location
    tags: tags
    queues: serviceBusQueues
  }
}

module batch 'modules/batch.bicep' = {
  scope: rg
  params: {
    name: names.batch
    poolIdentityName: names.poolIdentity
    location: location
    tags: tags
    pools: pools
  }
}

module keyVault 'modules/keyVault.bicep' = {
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    apiTokensSecretName: secretNames.apiTokens
    apiTokens: apiTokens
    smtpUrlSecretName: secretNames.smtpUrl
    smtpUrl: smtpUrl
    entraClientSecretName: secretNames.entraClientSecret
    entraClientSecret: dashboardOn ? entraClientSecret : ''
  }
}

module jobSecretsVault 'modules/jobSecretsVault.bicep' = {
  scope: rg
  params: {
    name: names.jobSecretsVault
    location: location
    tags: tags
  }
}

module email 'modules/email.bicep' = if (emailEnabled) {
  scope: rg
  params: {
    name: names.communication
    emailServiceName: names.emailService
    dataLocation: 'Europe'
    tags: tags
  }
}

module eventGridTopic 'modules/eventGridTopic.bicep' = {
  scope: rg
  params: {
    name: names.systemTopic
    location: location
    tags: tags
    storageAccountName: names.storage
    deadLetterContainer: deadLetterContainers[0]
  }
  dependsOn: [storage]
}

var storageSuffix = environment().suffixes.storage
var appSettings = union(
  {
    // Identity-based connections: the host, Durable Functions and the app read these.
    AzureWebJobsStorage__accountName: names.storage
    AzureWebJobsStorage__blobServiceUri: 'https://${names.storage}.blob.${storageSuffix}'
    AzureWebJobsStorage__queueServiceUri: 'https://${names.storage}.queue.${storageSuffix}'
    AzureWebJobsStorage__tableServiceUri: 'https://${names.storage}.table.${storageSuffix}'
    AzureWebJobsStorage__credential: 'managedidentity'
    ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    ServiceBusConnection__credential: 'managedidentity'
    APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
    BATCH_ACCOUNT_URL: batch.outputs.url
    CLOUDJOBS_DEFAULT_POOL: defaultPool
    CLOUDJOBS_ADMIN_ROLE: adminRole
    CLOUDJOBS_MAX_RUNNING_JOBS_PER_USER: string(maxRunningJobsPerUser)
    CLOUDJOBS_RETENTION_DAYS: string(retentionDays)
    CLOUDJOBS_KEY_VAULT_URL: jobSecretsVault.outputs.uri
    CLOUDJOBS_INPUT_CONTAINERS: join(inputContainers, ',')
    CLOUDJOBS_POOLS_FIXED: string(poolsFixed)
    CLOUDJOBS_PRESETS: string(presets)
  },
  empty(apiTokens) ? {} : { CLOUDJOBS_API_TOKENS: format(keyVaultReference, secretNames.apiTokens) },
  empty(smtpUrl)
    ? {}
    : {
        CLOUDJOBS_SMTP_URL: format(keyVaultReference, secretNames.smtpUrl)
        CLOUDJOBS_EMAIL_FROM: smtpFrom
      },
  emailEnabled
    ? {
        CLOUDJOBS_ACS_EMAIL_ENDPOINT: email!.outputs.endpoint
        CLOUDJOBS_EMAIL_FROM: email!.outputs.sender
      }
    : {},
  poolDataAccess == 'identity' ? { CLOUDJOBS_BATCH_NODE_IDENTITY: batch.outputs.poolIdentityId } : {},
  // The dashboard's proxy ends a request at 45 s: a stream that ends itself first is resumed
  // cleanly by its client, rather than cut.
  dashboardOn ? { CLOUDJOBS_STREAM_MAX_SECONDS: '40' } : {}
)

module functionApp 'modules/functionApp.bicep' = {
  scope: rg
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    serviceName: 'api'
    blobEndpoint: 'https://${names.storage}.blob.${storageSuffix}/'
    deploymentContainer: deploymentContainer
    nodeVersion: nodeVersion
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    durableAlwaysReady: durableAlwaysReady
    appSettings: appSettings
  }
  dependsOn: [storage, keyVault]
}

module staticWebApp 'modules/staticWebApp.bicep' = if (dashboardOn) {
  scope: rg
  params: {
    name: names.dashboard
    location: dashboardLocation
    tags: tags
    serviceName: 'web'
    entraClientId: entraClientId
    clientSecretReference: format(keyVaultReference, secretNames.entraClientSecret)
  }
}

module dashboardLink 'modules/dashboardLink.bicep' = if (dashboardOn) {
  scope: rg
  params: {
    siteName: names.dashboard
    functionAppId: functionApp.outputs.id
    functionAppLocation: location
  }
  dependsOn: [staticWebApp]
}

module appAuth 'modules/appAuth.bicep' = if (!empty(entraClientId)) {
  scope: rg
  params: {
    appName: names.functionApp
    entraClientId: entraClientId
    entraTenantId: entraTenantId
    dashboard: dashboardOn
    dashboardHostName: dashboardOn ? staticWebApp!.outputs.hostName : ''
  }
  // After the link, which writes this configuration too: this deployment's has the last word.
  dependsOn: [functionApp, dashboardLink]
}

module roles 'modules/roles.bicep' = {
  scope: rg
  params: {
    appPrincipalId: functionApp.outputs.principalId
    appName: names.functionApp
    storageAccountName: names.storage
    serviceBusName: names.serviceBus
    batchAccountName: names.batch
    keyVaultName: names.keyVault
    jobVaultName: names.jobSecretsVault
    appReadsSecrets: !empty(apiTokens) || !empty(smtpUrl)
    appInsightsName: names.appInsights
    communicationName: emailEnabled ? names.communication : ''
    poolIdentityReachesStorage: poolDataAccess == 'identity'
    poolPrincipalId: batch.outputs.poolIdentityPrincipalId
    poolIdentityName: names.poolIdentity
    poolWriteContainers: ['jobs', 'job-logs']
    poolReadContainers: union(inputContainers, ['uploads'])
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    dashboard: dashboardOn
    dashboardPrincipalId: dashboardOn ? staticWebApp!.outputs.principalId : ''
    dashboardName: names.dashboard
    dashboardSecretName: secretNames.entraClientSecret
  }
  // The resources the roles are on, named rather than referenced, must exist first.
  dependsOn: [storage, keyVault]
}

module alerts 'modules/alerts.bicep' = {
  scope: rg
  params: {
    namePrefix: names.alerts
    location: location
    tags: tags
    serviceBusId: serviceBus.outputs.id
    appInsightsId: monitoring.outputs.appInsightsId
    email: alertEmail
    stuckJobHours: stuckJobHours
  }
}

// azd keeps these in the environment (.azure/<env>/.env), where the hooks read them.
@description('Region of the deployment.')
output AZURE_LOCATION string = location

@description('Tenant of the deployment.')
output AZURE_TENANT_ID string = tenant().tenantId

@description('Resource group holding everything.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('Name of the Function App.')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('The API\'s base URL.')
output CLOUDJOBS_URL string = 'https://${functionApp.outputs.hostName}'

@description('The dashboard\'s address (empty without one); add <this>/.auth/login/aad/callback as a redirect URI of the app registration.')
output CLOUDJOBS_DASHBOARD_URL string = dashboardOn ? 'https://${staticWebApp!.outputs.hostName}' : ''

@description('Issuer the dashboard signs people in with; the dashboard\'s build writes it into staticwebapp.config.json.')
output CLOUDJOBS_DASHBOARD_OPENID_ISSUER string = dashboardOn ? openIdIssuer : ''

@description('Name of the Event Grid system topic the postdeploy hook subscribes the functions to.')
output AZURE_EVENT_GRID_TOPIC string = eventGridTopic.outputs.name

@description('Name of the storage account.')
output AZURE_STORAGE_ACCOUNT string = storage.outputs.name

@description('Name of the Key Vault holding the app\'s secrets.')
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name

@description('Name of the Batch account.')
output AZURE_BATCH_ACCOUNT string = batch.outputs.name

// What the app's identity may do, and no more: each role at the narrowest scope that works.

@description('Principal (object) id of the Function App\'s system-assigned identity.')
param appPrincipalId string

@description('Name of the Function App; names its role assignments, which must be known before the app exists.')
param appName string

@description('Name of the storage account.')
param storageAccountName string

@description('Name of the Service Bus namespace.')
param serviceBusName string

@description('Name of the Batch account.')
param batchAccountName string

@description('Name of the Key Vault.')
param keyVaultName string

@description('Name of the Key Vault of users\' secrets for their jobs.')
param jobVaultName string

@description('Whether any app setting is a Key Vault reference (API tokens, SMTP URL): only then may the app read secrets.')
param appReadsSecrets bool

@description('Name of the Application Insights component.')
param appInsightsName string

@description('Name of the Communication Services resource; empty when email is off.')
param communicationName string

@description('Whether the pools\' identity reaches job files (poolDataAccess identity); otherwise pools use SAS URLs and it gets no storage role.')
param poolIdentityReachesStorage bool

@description('Principal id of the pools\' identity.')
param poolPrincipalId string

@description('Name of the pools\' identity; names its role assignments.')
param poolIdentityName string

@description('Containers the pools\' identity writes (outputs, logs).')
param poolWriteContainers string[]

@description('Containers the pools\' identity reads (inputs).')
param poolReadContainers string[]

@description('Whether there is a dashboard (a Static Web App) reading a Key Vault secret.')
param dashboard bool

@description('Principal id of the dashboard\'s identity.')
param dashboardPrincipalId string

@description('Name of the dashboard\'s Static Web App; names its role assignment.')
param dashboardName string

@description('Name of the Key Vault secret the dashboard reads (its sign-in client secret).')
param dashboardSecretName string

@description('Object id of the person or pipeline deploying, who may then manage the vault\'s secrets; empty grants nothing.')
param deployerPrincipalId string

@description('Whether the deployer is a User or a ServicePrincipal.')
param deployerPrincipalType string

// Built-in role definition ids.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  batchDataContributor: '6aaa78f1-f7de-44ca-8722-c64a23943cae'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  communicationAndEmailServiceOwner: '09976791-48a7-449e-bb21-39d1a415f350'
}

resource storage 'Microsoft.Storage/storageAccounts@2026-09-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-09-01' existing = {
  parent: storage
  name: 'default'
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2026-01-01' existing = {
  name: serviceBusName
}

resource batch 'Microsoft.Batch/batchAccounts@2025-06-01' existing = {
  name: batchAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource communication 'Microsoft.Communication/communicationServices@2026-03-18' existing = if (!empty(communicationName)) {
  name: communicationName
}

// The Functions host keeps its leases and the deployment package in blobs (it needs Owner there),
// Durable Functions its queues and history tables, and the app its job store and job files;
// the app also signs user delegation SAS URLs, which Blob Data Owner allows.
resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]: {
    scope: storage
    name: guid(storage.id, appName, role)
    properties: {
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

// Triggers receive and settle; output bindings send. Nothing manages the namespace.
resource serviceBusRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [roles.serviceBusDataSender, roles.serviceBusDataReceiver]: {
    scope: serviceBus
    name: guid(serviceBus.id, appName, role)
    properties: {
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

// Jobs and tasks, and the pools API (create, resize, delete); not the account or its keys.
resource batchRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: batch
  name: guid(batch.id, appName, roles.batchDataContributor)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.batchDataContributor)
  }
}

resource vaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (appReadsSecrets) {
  scope: vault
  name: guid(vault.id, appName, roles.keyVaultSecretsUser)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource jobSecretsVault 'Microsoft.KeyVault/vaults@2026-05-15' existing = {
  name: jobVaultName
}

// Users set, list and delete their secrets through the app, and their jobs read them: the app
// manages that vault's secrets, and nothing else of it.
resource jobSecretsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: jobSecretsVault
  name: guid(jobSecretsVault.id, appName, roles.keyVaultSecretsOfficer)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}

// The dashboard resolves one Key Vault reference, its sign-in client secret: that secret alone.
resource dashboardSecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' existing = if (dashboard) {
  parent: vault
  name: dashboardSecretName
}

resource dashboardSecretRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (dashboard) {
  scope: dashboardSecret
  name: guid(vault.id, dashboardName, dashboardSecretName, roles.keyVaultSecretsUser)
  properties: {
    principalId: dashboardPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// Application Insights takes only Microsoft Entra authenticated telemetry.
resource telemetryRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: appInsights
  name: guid(appInsights.id, appName, roles.monitoringMetricsPublisher)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roles.monitoringMetricsPublisher
    )
  }
}

// There is no send-only built-in role for email; this one is scoped to the one resource.
resource emailRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(communicationName)) {
  scope: communication
  name: guid(resourceGroup().id, communicationName, appName, roles.communicationAndEmailServiceOwner)
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roles.communicationAndEmailServiceOwner
    )
  }
}

resource poolWriteContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-09-01' existing = [
  for container in poolWriteContainers: {
    parent: blobService
    name: container
  }
]

resource poolWriteRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (container, i) in poolWriteContainers: if (poolIdentityReachesStorage) {
    scope: poolWriteContainer[i]
    name: guid(storage.id, container, poolIdentityName, roles.storageBlobDataContributor)
    properties: {
      principalId: poolPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId(
        'Microsoft.Authorization/roleDefinitions',
        roles.storageBlobDataContributor
      )
    }
  }
]

// Each job's tasks write to a container of the job's own (jobdata-<job id>), made as the job
// starts: with an identity instead of SAS URLs, the pools may write any of those, by an ABAC
// condition on the container's name (a role assignment per job is not something to make at run time).
resource poolJobDataRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (poolIdentityReachesStorage) {
  scope: storage
  name: guid(storage.id, 'jobdata-', poolIdentityName, roles.storageBlobDataContributor)
  properties: {
    principalId: poolPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roles.storageBlobDataContributor
    )
    conditionVersion: '2.0'
    condition: jobDataCondition
  }
}

// Every data action of Storage Blob Data Contributor, each allowed only in a job's container.
var blobDataActions = ['read', 'write', 'delete', 'add/action', 'move/action']
var jobDataCondition = '((${join(map(blobDataActions, a => '!(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/${a}\'})'), ' AND ')}) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringStartsWith \'jobdata-\'))'

resource poolReadContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-09-01' existing = [
  for container in poolReadContainers: {
    parent: blobService
    name: container
  }
]

resource poolReadRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (container, i) in poolReadContainers: if (poolIdentityReachesStorage) {
    scope: poolReadContainer[i]
    name: guid(storage.id, container, poolIdentityName, roles.storageBlobDataReader)
    properties: {
      principalId: poolPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    }
  }
]

resource deployerVaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  scope: vault
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultSecretsOfficer)
  properties: {
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}

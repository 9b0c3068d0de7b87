// The storage account that holds everything the app keeps: the Functions host's and Durable's
// state (AzureWebJobsStorage), the job store (tables), the jobs' files and logs (blobs), the
// blob inbox, and the Flex Consumption deployment package. Reached only with Microsoft Entra
// identities: shared key access is off.
import { stringMap } from '../types.bicep'

@description('Name of the storage account (3-24 lowercase letters and digits).')
param name string

@description('Region of the account.')
param location string

@description('Tags for every resource.')
param tags stringMap

@description('Blob containers the app uses; each is created.')
param containers string[]

@description('Tables the app uses; each is created (the app would create them too, but a deployment says what exists).')
param tables string[]

@description('Container of the Flex Consumption deployment package.')
param deploymentContainer string

@description('Days after which task logs (the job-logs container) are deleted; 0 keeps them.')
@minValue(0)
param logRetentionDays int

@description('Days after which job files (the jobs container: outputs, plans, large specs) are deleted; 0 keeps them.')
@minValue(0)
param jobFilesRetentionDays int

@description('Container holding task logs, for the lifecycle rule.')
param logsContainer string

@description('Container holding job files, for the lifecycle rule.')
param jobsContainer string

resource account 'Microsoft.Storage/storageAccounts@2026-09-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { bypass: 'AzureServices', defaultAction: 'Allow' }
  }
}

@description('Origins whose pages may send files straight to storage with an upload URL (the dashboard\'s).')
param uploadOrigins string[] = []

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-09-01' = {
  parent: account
  name: 'default'
  properties: {
    // The dashboard uploads users' files in blocks to a per-blob SAS URL: its origin must be let in.
    cors: {
      corsRules: empty(uploadOrigins)
        ? []
        : [
            {
              allowedOrigins: uploadOrigins
              allowedMethods: ['PUT', 'GET', 'HEAD', 'OPTIONS']
              allowedHeaders: ['*']
              exposedHeaders: ['*']
              maxAgeInSeconds: 3600
            }
          ]
    }
    // Logs and outputs are written once; versions would only double what is stored.
    isVersioningEnabled: false
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-09-01' = [
  for container in union(containers, [deploymentContainer]): {
    parent: blobService
    name: container
    properties: { publicAccess: 'None' }
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2026-09-01' = {
  parent: account
  name: 'default'
}

resource appTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2026-09-01' = [
  for table in tables: {
    parent: tableService
    name: table
  }
]

// Durable Functions' queues live here too; it creates them itself.
resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2026-09-01' = {
  parent: account
  name: 'default'
}

var lifecycleRules = concat(
  logRetentionDays > 0
    ? [
        {
          name: 'expire-task-logs'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: { blobTypes: ['blockBlob'], prefixMatch: ['${logsContainer}/'] }
            actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: logRetentionDays } } }
          }
        }
      ]
    : [],
  jobFilesRetentionDays > 0
    ? [
        {
          name: 'expire-job-files'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: { blobTypes: ['blockBlob'], prefixMatch: ['${jobsContainer}/'] }
            actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: jobFilesRetentionDays } } }
          }
        }
      ]
    : []
)

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2026-09-01' = if (!empty(lifecycleRules)) {
  parent: account
  name: 'default'
  properties: { policy: { rules: lifecycleRules } }
}

@description('Resource id of the account.')
output id string = account.id

@description('Name of the account.')
output name string = account.name

@description('Blob service URL, ending in a slash.')
output blobEndpoint string = account.properties.primaryEndpoints.blob

@description('Queue service URL, ending in a slash.')
output queueEndpoint string = account.properties.primaryEndpoints.queue

@description('Table service URL, ending in a slash.')
output tableEndpoint string = account.properties.primaryEndpoints.table

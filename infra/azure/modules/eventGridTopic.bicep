// The Event Grid system topic on the storage account: blob events come from here. Its
// subscriptions point at functions, which must be deployed first, so they are made by
// infra/azure/events.bicep after azd deploys the code (the postdeploy hook).
import { stringMap } from '../types.bicep'

@description('Name of the system topic.')
param name string

@description('Region (the storage account\'s).')
param location string

@description('Tags for every resource.')
param tags stringMap

@description('Name of the storage account the topic publishes the events of.')
param storageAccountName string

@description('Container events that could not be delivered are written to.')
param deadLetterContainer string

resource storage 'Microsoft.Storage/storageAccounts@2026-09-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-09-01' existing = {
  parent: storage
  name: 'default'
}

resource deadLetters 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-09-01' existing = {
  parent: blobService
  name: deadLetterContainer
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  // Dead letters are written with this identity: the account takes no shared key.
  identity: { type: 'SystemAssigned' }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource deadLetterRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: deadLetters
  name: guid(deadLetters.id, topic.id, blobDataContributor)
  properties: {
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

@description('Name of the system topic.')
output name string = topic.name

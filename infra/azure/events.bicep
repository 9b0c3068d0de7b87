// The Event Grid subscriptions of the app's Event Grid functions, deployed after the code (by the
// postdeploy hook in azure.yaml): Event Grid validates a function endpoint when the subscription
// is made, and a function exists only once azd has deployed it. Each entry of
// infra/local/eventgrid.json, which the embedded runtime reads, becomes one subscription.

@description('Name of the Function App whose functions receive the events.')
param functionAppName string

@description('Name of the Event Grid system topic on the storage account.')
param systemTopicName string

@description('Name of the storage account that holds the dead-letter container.')
param storageAccountName string

var local = loadJsonContent('../local/eventgrid.json')

resource site 'Microsoft.Web/sites@2025-03-01' existing = {
  name: functionAppName
}

resource storage 'Microsoft.Storage/storageAccounts@2026-09-01' existing = {
  name: storageAccountName
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource subscriptions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = [
  for subscription in local.subscriptions: {
    parent: topic
    name: subscription.name
    properties: {
      destination: {
        endpointType: 'AzureFunction'
        properties: {
          resourceId: '${site.id}/functions/${subscription.destination.functionName}'
          maxEventsPerBatch: 1
          preferredBatchSizeInKilobytes: 64
        }
      }
      filter: subscription.filter
      eventDeliverySchema: 'EventGridSchema'
      retryPolicy: subscription.retryPolicy
      deadLetterWithResourceIdentity: {
        identity: { type: 'SystemAssigned' }
        deadLetterDestination: {
          endpointType: 'StorageBlob'
          properties: {
            resourceId: storage.id
            blobContainerName: subscription.deadLetterDestination.containerName
          }
        }
      }
    }
  }
]

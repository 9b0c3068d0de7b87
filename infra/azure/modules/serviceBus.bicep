// The Service Bus namespace and every queue the functions declare. The queues and their settings
// come from infra/local/servicebus.json, the file the embedded runtime reads, so a queue behaves
// the same on one machine and on Azure.
import { serviceBusQueue, stringMap } from '../types.bicep'

@description('Name of the namespace.')
param name string

@description('Region of the namespace.')
param location string

@description('Tags for every resource.')
param tags stringMap

@description('Queues in the Service Bus emulator\'s Config.json shape: Name, and Properties with MaxDeliveryCount, LockDuration, DefaultMessageTimeToLive and DeadLetteringOnMessageExpiration.')
param queues serviceBusQueue[]

resource namespace 'Microsoft.ServiceBus/namespaces@2026-01-01' = {
  name: name
  location: location
  tags: tags
  // Standard: Basic has no sessions, transactions or duplicate detection, which later work may want.
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource namespaceQueues 'Microsoft.ServiceBus/namespaces/queues@2026-01-01' = [
  for queue in queues: {
    parent: namespace
    name: queue.Name
    properties: {
      maxDeliveryCount: queue.Properties.?MaxDeliveryCount
      lockDuration: queue.Properties.?LockDuration
      defaultMessageTimeToLive: queue.Properties.?DefaultMessageTimeToLive
      deadLetteringOnMessageExpiration: queue.Properties.?DeadLetteringOnMessageExpiration ?? false
    }
  }
]

@description('Resource id of the namespace.')
output id string = namespace.id

@description('Name of the namespace.')
output name string = namespace.name

@description('The namespace host name, as ServiceBusConnection__fullyQualifiedNamespace takes it.')
output fullyQualifiedNamespace string = replace(
  replace(namespace.properties.serviceBusEndpoint, 'https://', ''),
  ':443/',
  ''
)

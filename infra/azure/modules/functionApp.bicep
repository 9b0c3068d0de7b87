// The Function App on the Flex Consumption plan: Node, a system-assigned identity, the app's
// settings. Its authentication, when on, is appAuth.bicep's.
import { stringMap } from '../types.bicep'

@description('Name of the Function App.')
param name string

@description('Name of its Flex Consumption plan.')
param planName string

@description('Region of both.')
param location string

@description('Tags for every resource; the app also gets azd-service-name.')
param tags stringMap

@description('The service name in azure.yaml, which azd finds the app by.')
param serviceName string

@description('Blob service URL of the storage account, ending in a slash.')
param blobEndpoint string

@description('Container of the deployment package.')
param deploymentContainer string

@description('Node.js version the app runs on.')
@allowed(['20', '22'])
param nodeVersion string

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int

@description('HTTP requests one instance serves at once (event streams are long and mostly idle).')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int

@description('Instances kept warm for the durable group (orchestrations and activities), so a job is picked up at once.')
@minValue(0)
param durableAlwaysReady int

@description('The app settings but CLOUDJOBS_PUBLIC_URL, which is added here: they replace whatever the app had.')
param appSettings stringMap

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2025-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        triggers: { http: { perInstanceConcurrency: httpPerInstanceConcurrency } }
        alwaysReady: durableAlwaysReady > 0 ? [{ name: 'durable', instanceCount: durableAlwaysReady }] : []
      }
      runtime: { name: 'node', version: nodeVersion }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2025-03-01' = {
  parent: site
  name: 'appsettings'
  // Links in emails point at the app; its host name is known only once it exists.
  properties: union(appSettings, { CLOUDJOBS_PUBLIC_URL: 'https://${site.properties.defaultHostName}' })
}

@description('Name of the Function App.')
output name string = site.name

@description('Resource id of the Function App.')
output id string = site.id

@description('Principal (object) id of its system-assigned identity.')
output principalId string = site.identity.principalId

@description('Its default host name.')
output hostName string = site.properties.defaultHostName

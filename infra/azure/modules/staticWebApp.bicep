// The dashboard: a Static Web App (Standard, the plan that links a backend and takes a custom
// Microsoft Entra registration) whose /api is the Function App. People sign in with the app
// registration; its client secret stays in Key Vault and the site reads it with its own identity.
import { stringMap } from '../types.bicep'

@description('Name of the Static Web App.')
param name string

@description('Region of the site\'s own parts (its content is served worldwide); Static Web Apps exist in only these.')
@allowed(['westus2', 'centralus', 'eastus2', 'westeurope', 'eastasia'])
param location string

@description('Tags for the site; it also gets azd-service-name.')
param tags stringMap

@description('The service name in azure.yaml, which azd finds the site by.')
param serviceName string

@description('Client id of the Microsoft Entra app registration people sign in with.')
param entraClientId string

@secure()
@description('Key Vault reference to that registration\'s client secret.')
param clientSecretReference string

resource site 'Microsoft.Web/staticSites@2025-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  sku: { name: 'Standard', tier: 'Standard' }
  // Resolves the Key Vault reference below; it reaches nothing else.
  identity: { type: 'SystemAssigned' }
  properties: {
    // azd deploys the built site with a deployment token: no repository, no build on Azure.
    provider: 'None'
    stagingEnvironmentPolicy: 'Disabled'
    allowConfigFileUpdates: true
  }
}

// The names staticwebapp.config.json's auth section gives (web/vite.config.ts writes it).
resource settings 'Microsoft.Web/staticSites/config@2025-03-01' = {
  parent: site
  name: 'appsettings'
  properties: {
    AZURE_CLIENT_ID: entraClientId
    AZURE_CLIENT_SECRET: clientSecretReference
  }
}

@description('Resource id of the site.')
output id string = site.id

@description('Name of the site.')
output name string = site.name

@description('Its default host name (no scheme).')
output hostName string = site.properties.defaultHostname

@description('Principal id of its identity.')
output principalId string = site.identity.principalId

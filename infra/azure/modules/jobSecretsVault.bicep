// Users' secrets for their jobs (a job's env names one as {"secretRef": "<name>"}), in a vault
// apart from the one holding the app's own settings: the app manages these on its users' behalf,
// so it may write and delete here, and only read there. Owners' names are kept apart by the app.
import { stringMap } from '../types.bicep'

@description('Name of the vault.')
param name string

@description('Region of the vault.')
param location string

@description('Tags for every resource.')
param tags stringMap

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    // Without purge protection the app can purge a deleted secret, so its name is free again at
    // once; a vault with it still works (the app recovers and overwrites instead).
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

@description('Resource id of the vault.')
output id string = vault.id

@description('Name of the vault.')
output name string = vault.name

@description('URL of the vault (CLOUDJOBS_KEY_VAULT_URL).')
output uri string = vault.properties.vaultUri

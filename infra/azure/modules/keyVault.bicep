// The secrets the app does need, in Key Vault, read by the app through Key Vault references in
// its settings: its identity resolves them, so no secret value is ever an app setting.
import { stringMap } from '../types.bicep'

@description('Name of the vault.')
param name string

@description('Region of the vault.')
param location string

@description('Tags for every resource.')
param tags stringMap

@description('Name of the secret that holds CLOUDJOBS_API_TOKENS.')
param apiTokensSecretName string

@secure()
@description('CLOUDJOBS_API_TOKENS; empty stores nothing.')
param apiTokens string

@description('Name of the secret that holds CLOUDJOBS_SMTP_URL.')
param smtpUrlSecretName string

@secure()
@description('CLOUDJOBS_SMTP_URL; empty stores nothing.')
param smtpUrl string

@description('Name of the secret that holds the dashboard\'s sign-in client secret.')
param entraClientSecretName string

@secure()
@description('Client secret of the Microsoft Entra app registration the dashboard signs people in with; empty stores nothing.')
param entraClientSecret string

resource vault 'Microsoft.KeyVault/vaults@2026-05-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource apiTokensSecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = if (!empty(apiTokens)) {
  parent: vault
  name: apiTokensSecretName
  properties: { value: apiTokens }
}

resource smtpUrlSecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = if (!empty(smtpUrl)) {
  parent: vault
  name: smtpUrlSecretName
  properties: { value: smtpUrl }
}

resource entraClientSecretSecret 'Microsoft.KeyVault/vaults/secrets@2026-05-15' = if (!empty(entraClientSecret)) {
  parent: vault
  name: entraClientSecretName
  properties: { value: entraClientSecret }
}

@description('Resource id of the vault.')
output id string = vault.id

@description('Name of the vault.')
output name string = vault.name

// Optional: Azure Communication Services email, which the app's ACS email adapter sends through
// with its managed identity (CLOUDJOBS_ACS_EMAIL_ENDPOINT). The sender is an Azure managed
// domain, DoNotReply@<generated>.azurecomm.net; a custom domain needs DNS records (see docs).
import { stringMap } from '../types.bicep'

@description('Name of the Communication Services resource.')
param name string

@description('Name of the Email Communication Services resource.')
param emailServiceName string

@description('Where the data lives (Communication Services are global, with a data location).')
param dataLocation string

@description('Tags for every resource.')
param tags stringMap

resource emailService 'Microsoft.Communication/emailServices@2026-03-18' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: { dataLocation: dataLocation }
}

resource domain 'Microsoft.Communication/emailServices/domains@2026-03-18' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource communication 'Microsoft.Communication/communicationServices@2026-03-18' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [domain.id]
  }
}

@description('Resource id of the Communication Services resource.')
output id string = communication.id

@description('Endpoint the app sends email through.')
output endpoint string = 'https://${communication.properties.hostName}'

@description('Sender address on the Azure managed domain.')
output sender string = 'DoNotReply@${domain.properties.mailFromSenderDomain}'

// Links the Function App to the dashboard as its backend: the site then proxies /api to it and
// passes the signed-in principal. Separate from the site because the Function App's own
// authentication names the site, so the site comes first and the link after both.
@description('Name of the Static Web App.')
param siteName string

@description('Resource id of the Function App.')
param functionAppId string

@description('Region of the Function App.')
param functionAppLocation string

resource site 'Microsoft.Web/staticSites@2025-03-01' existing = {
  name: siteName
}

resource backend 'Microsoft.Web/staticSites/linkedBackends@2025-03-01' = {
  parent: site
  name: 'api'
  properties: {
    backendResourceId: functionAppId
    region: functionAppLocation
  }
}

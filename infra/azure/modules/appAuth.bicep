// App Service authentication in front of the Function App: callers sign in with Microsoft Entra
// ID (a bearer token for the app registration), or come through the dashboard's Static Web App,
// which signs people in and passes their principal. The platform then sets WEBSITE_AUTH_ENABLED
// and x-ms-client-principal, which the app trusts (client-sent copies are stripped); anything
// unauthenticated gets 401.
//
// Linking the dashboard adds its provider to this configuration; a deployment of this resource
// replaces the whole configuration, so it names that provider itself and runs after the link.

@description('Name of the Function App.')
param appName string

@description('Client id of the Microsoft Entra app registration.')
param entraClientId string

@description('Tenant of that app registration.')
param entraTenantId string

@description('Whether the dashboard\'s Static Web App is linked in front of the app.')
param dashboard bool

@description('Host name of that Static Web App (unused without it).')
param dashboardHostName string

resource site 'Microsoft.Web/sites@2025-03-01' existing = {
  name: appName
}

resource auth 'Microsoft.Web/sites/config@2025-03-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      // Health answers load balancers and probes; Event Grid delivers with the extension's own key.
      excludedPaths: ['/api/health', '/runtime/webhooks/eventgrid']
    }
    identityProviders: union(
      {
        azureActiveDirectory: {
          enabled: true
          registration: {
            clientId: entraClientId
            openIdIssuer: '${environment().authentication.loginEndpoint}${entraTenantId}/v2.0'
          }
          validation: {
            allowedAudiences: ['api://${entraClientId}', entraClientId]
          }
        }
      },
      !dashboard
        ? {}
        : {
            // What linking sets: the site, known by its host name, vouches for its users.
            azureStaticWebApps: { enabled: true, registration: { clientId: dashboardHostName } }
          }
    )
    login: { tokenStore: { enabled: false } }
  }
}

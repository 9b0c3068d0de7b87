// Where the app's telemetry goes: a Log Analytics workspace and a workspace-based Application
// Insights that accepts only Microsoft Entra authenticated ingestion (no instrumentation key).
import { stringMap } from '../types.bicep'

@description('Name of the Log Analytics workspace.')
param workspaceName string

@description('Name of the Application Insights component.')
param appInsightsName string

@description('Region of both.')
param location string

@description('Tags for every resource.')
param tags stringMap

@description('Days the workspace keeps logs.')
@minValue(30)
@maxValue(730)
param retentionDays int

resource workspace 'Microsoft.OperationalInsights/workspaces@2026-03-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: retentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

@description('Resource id of the Application Insights component.')
output appInsightsId string = appInsights.id

@description('Name of the Application Insights component.')
output appInsightsName string = appInsights.name

@description('Connection string of the Application Insights component (it holds no secret once local auth is off).')
output connectionString string = appInsights.properties.ConnectionString

@description('Resource id of the workspace.')
output workspaceId string = workspace.id

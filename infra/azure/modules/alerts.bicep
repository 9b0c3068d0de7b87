// Alerts worth waking someone for: messages dead-lettered on any Service Bus queue, and a job
// that has sat in one non-final state for longer than it should.
import { stringMap } from '../types.bicep'

@description('Prefix of the alert names.')
param namePrefix string

@description('Region of the log alert (the Application Insights component\'s).')
param location string

@description('Tags for every resource.')
param tags stringMap

@description('Resource id of the Service Bus namespace.')
param serviceBusId string

@description('Resource id of the Application Insights component.')
param appInsightsId string

@description('Address alerts are emailed to; empty makes alerts that notify no one (they still show in the portal).')
param email string

@description('Hours a job may stay in one non-final state before the stuck-job alert fires.')
@minValue(1)
param stuckJobHours int

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(email)) {
  name: '${namePrefix}-oncall'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'cloudjobs'
    enabled: true
    emailReceivers: [{ name: 'oncall', emailAddress: email, useCommonAlertSchema: true }]
  }
}

var actions = empty(email) ? [] : [{ actionGroupId: actionGroup.id }]

// A dead-lettered message is a signal or a delivery the app gave up on after every retry.
resource deadLetters 'Microsoft.Insights/metricAlerts@2026-01-01' = {
  name: '${namePrefix}-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'A Service Bus queue has dead-lettered messages (see docs/operations.md, Dead letters).'
    severity: 2
    enabled: true
    scopes: [serviceBusId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'dead-lettered'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          // One alert per queue.
          dimensions: [{ name: 'EntityName', operator: 'Include', values: ['*'] }]
          timeAggregation: 'Maximum'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// The reconcile timer reports, every pass, how long the job longest in one non-final state has
// been in it (cloudjobs.jobs.oldest_state_age_seconds); see docs/operations.md.
resource stuckJobs 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: '${namePrefix}-stuck-jobs'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    description: 'A job has stayed in one non-final state for more than ${stuckJobHours} hours.'
    severity: 2
    enabled: true
    scopes: [appInsightsId]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "cloudjobs.jobs.oldest_state_age_seconds" | summarize ageHours = max(valueMax) / 3600'
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'ageHours'
          operator: 'GreaterThan'
          threshold: stuckJobHours
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    autoMitigate: true
    actions: { actionGroups: empty(email) ? [] : [actionGroup.id] }
  }
}

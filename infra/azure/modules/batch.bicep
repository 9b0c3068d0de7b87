// The Azure Batch account, in Batch service pool allocation mode, and the pools the deployment
// offers. The app signs in to Batch with its managed identity: shared key access is off.
import { poolSpec, stringMap } from '../types.bicep'

@description('Name of the Batch account (3-24 lowercase letters and digits).')
param name string

@description('Name of the pools\' user-assigned identity.')
param poolIdentityName string

@description('Region of the account.')
param location string

@description('Tags for every resource.')
param tags stringMap

@description('The pools to create.')
param pools poolSpec[]

var ubuntu = {
  publisher: 'canonical'
  offer: 'ubuntu-24_04-lts'
  sku: 'server'
  version: 'latest'
  nodeAgentSkuId: 'batch.node.ubuntu 24.04'
}

// The Data Science VM's HPC image ships a container runtime Batch supports.
var ubuntuWithContainers = {
  publisher: 'microsoft-dsvm'
  offer: 'ubuntu-hpc'
  sku: '2404'
  version: 'latest'
  nodeAgentSkuId: 'batch.node.ubuntu 24.04'
}

// The examples use a POSIX shell, seq, awk and python3; stock Ubuntu has them, a custom image may not.
var defaultStartTask = 'set -e; which awk seq python3 > /dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -yq gawk coreutils python3)'

// Given to every pool, so tasks can reach storage without a SAS when the deployment chooses to
// (poolDataAccess 'identity'), and so later work can pull images from a registry with it.
resource poolIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: poolIdentityName
  location: location
  tags: tags
}

resource account 'Microsoft.Batch/batchAccounts@2025-06-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    poolAllocationMode: 'BatchService'
    allowedAuthenticationModes: ['AAD']
    publicNetworkAccess: 'Enabled'
  }
}

resource batchPools 'Microsoft.Batch/batchAccounts/pools@2025-06-01' = [
  for pool in pools: {
    parent: account
    name: pool.name
    identity: {
      type: 'UserAssigned'
      userAssignedIdentities: { '${poolIdentity.id}': {} }
    }
    properties: {
      vmSize: pool.vmSize
      taskSlotsPerNode: pool.taskSlotsPerNode
      taskSchedulingPolicy: { nodeFillType: 'Pack' }
      deploymentConfiguration: {
        // A pool without containers gets no containerConfiguration at all, rather than a null one.
        virtualMachineConfiguration: union(
          {
            imageReference: {
              publisher: pool.?image.?publisher ?? ((pool.?containers ?? false) ? ubuntuWithContainers.publisher : ubuntu.publisher)
              offer: pool.?image.?offer ?? ((pool.?containers ?? false) ? ubuntuWithContainers.offer : ubuntu.offer)
              sku: pool.?image.?sku ?? ((pool.?containers ?? false) ? ubuntuWithContainers.sku : ubuntu.sku)
              version: pool.?image.?version ?? 'latest'
            }
            nodeAgentSkuId: pool.?image.?nodeAgentSkuId ?? ubuntu.nodeAgentSkuId
          },
          (pool.?containers ?? false) ? { containerConfiguration: { type: 'DockerCompatible' } } : {}
        )
      }
      scaleSettings: {
        fixedScale: {
          targetDedicatedNodes: pool.dedicatedNodes
          targetLowPriorityNodes: pool.spotNodes
          resizeTimeout: 'PT15M'
        }
      }
      startTask: {
        commandLine: '/bin/bash -c \'${replace(pool.?startTask ?? defaultStartTask, '\'', '\'"\'"\'')}\''
        userIdentity: { autoUser: { scope: 'Pool', elevationLevel: 'Admin' } }
        waitForSuccess: true
        maxTaskRetryCount: 2
      }
    }
  }
]

@description('Resource id of the account.')
output id string = account.id

@description('Name of the account.')
output name string = account.name

@description('The account\'s data plane URL, as BATCH_ACCOUNT_URL takes it.')
output url string = 'https://${account.properties.accountEndpoint}'

@description('Resource id of the pools\' identity.')
output poolIdentityId string = poolIdentity.id

@description('Principal (object) id of the pools\' identity, for its role assignments.')
output poolIdentityPrincipalId string = poolIdentity.properties.principalId

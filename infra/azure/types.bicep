// Types the deployment's parameters share.

@export()
@description('A marketplace image for pool nodes, with the Batch node agent that runs on it.')
type nodeImage = {
  @description('Image publisher, e.g. canonical.')
  publisher: string

  @description('Image offer, e.g. ubuntu-24_04-lts.')
  offer: string

  @description('Image SKU, e.g. server.')
  sku: string

  @description('Image version; latest unless pinned.')
  version: string?

  @description('The Batch node agent for the image, e.g. batch.node.ubuntu 24.04.')
  nodeAgentSkuId: string
}

@export()
@description('A Batch pool the deployment offers: a job runs on it by naming it in "pool".')
type poolSpec = {
  @description('Pool id, as job specs name it (1-64 letters, digits, "_" and "-").')
  @minLength(1)
  @maxLength(64)
  name: string

  @description('VM size of each node, e.g. Standard_D2s_v5.')
  vmSize: string

  @description('Dedicated nodes.')
  @minValue(0)
  dedicatedNodes: int

  @description('Spot nodes: much cheaper, but Azure may take them back (a task running on one is retried).')
  @minValue(0)
  spotNodes: int

  @description('Tasks that run at once on one node.')
  @minValue(1)
  @maxValue(256)
  taskSlotsPerNode: int

  @description('Node image; Ubuntu 24.04 LTS when absent (an image with a container runtime when containers is true).')
  image: nodeImage?

  @description('Whether tasks may name a container image ("image" in a job spec); needs an image with a container runtime.')
  containers: bool?

  @description('What every node runs as root when it joins the pool, under /bin/bash -c; by default it makes sure the tools the examples use are there.')
  startTask: string?
}

@export()
@description('Tags, or app settings: names to strings.')
type stringMap = {
  *: string
}

@export()
@description('A queue as the Service Bus emulator\'s Config.json (infra/local/servicebus.json) declares it.')
type serviceBusQueue = {
  @description('Queue name.')
  Name: string

  @description('Its settings; Service Bus defaults where absent.')
  Properties: {
    @description('Deliveries before a message is dead-lettered.')
    MaxDeliveryCount: int?

    @description('How long a receiver holds a message (ISO 8601).')
    LockDuration: string?

    @description('How long an unreceived message lives (ISO 8601).')
    DefaultMessageTimeToLive: string?

    @description('Whether an expired message goes to the dead-letter queue.')
    DeadLetteringOnMessageExpiration: bool?
  }
}

@export()
@description('A resource preset: what a task gets and where; a job or a task names it instead of a pool.')
type preset = {
  @description('The name specs use (1-32 lowercase letters, digits and "-").')
  @minLength(1)
  @maxLength(32)
  name: string

  @description('What it is for, shown to users.')
  description: string?

  @description('CPUs a task gets.')
  @minValue(1)
  cpus: int

  @description('Memory a task gets, in GiB.')
  @minValue(1)
  memoryGiB: int

  @description('GPUs a task gets.')
  gpus: int?

  @description('Spot (low-priority) nodes, which Azure may take back.')
  spot: bool?

  @description('The pool it runs on: one of this deployment\'s.')
  pool: string

  @description('Task slots one task takes on a node of that pool.')
  @minValue(1)
  slots: int?
}

import { TableClient } from '@azure/data-tables';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';

/** Storage clients for the runtime's own state, talking to Azurite directly. */
export class StorageClients {
  readonly blobs: BlobServiceClient;
  readonly queues: QueueServiceClient;

  constructor(readonly connectionString: string) {
    this.blobs = BlobServiceClient.fromConnectionString(connectionString);
    this.queues = QueueServiceClient.fromConnectionString(connectionString);
  }

  table(name: string): TableClient {
    return TableClient.fromConnectionString(this.connectionString, name, { allowInsecureConnection: true });
  }

  queue(name: string): QueueClient {
    return this.queues.getQueueClient(name);
  }

  container(name: string): ContainerClient {
    return this.blobs.getContainerClient(name);
  }
}

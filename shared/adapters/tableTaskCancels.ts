import type { TableClient } from '@azure/data-tables';
import { isStatus, odata, type Entity } from './tables.js';

/**
 * Notes of tasks cancelled on their own, one row each in the job's task partition, keyed
 * `cancel|<taskId>`: after the task blocks (`b…`, below `c`) and before the task log (`ev|…`),
 * so neither's range reads them, and deleting the job's partition takes them too.
 */
const PREFIX = 'cancel|';
const rowKey = (taskId: string) => `${PREFIX}${taskId}`;

export class TableTaskCancels {
  readonly #tasks: TableClient;
  readonly #ready: () => Promise<void>;

  constructor(tasks: TableClient, ready: () => Promise<void>) {
    this.#tasks = tasks;
    this.#ready = ready;
  }

  async mark(id: string, taskId: string, by: string, at: string): Promise<void> {
    await this.#ready();
    // The first note stands: a repeat (a retried request) says nothing new.
    await this.#tasks
      .createEntity({ partitionKey: id, rowKey: rowKey(taskId), By: by, At: at })
      .catch((error: unknown) => {
        if (!isStatus(error, 409)) throw error;
      });
  }

  async unmark(id: string, taskId: string): Promise<void> {
    await this.#ready();
    await this.#tasks.deleteEntity(id, rowKey(taskId)).catch((error: unknown) => {
      if (!isStatus(error, 404)) throw error;
    });
  }

  async list(id: string): Promise<Set<string>> {
    await this.#ready();
    const ids = new Set<string>();
    const filter = `PartitionKey eq ${odata(id)} and RowKey ge ${odata(PREFIX)} and RowKey lt ${odata('cancel}')}`;
    for await (const entity of this.#tasks.listEntities<Entity>({
      queryOptions: { filter, select: ['RowKey'] },
    })) {
      ids.add(entity.rowKey.slice(PREFIX.length));
    }
    return ids;
  }
}

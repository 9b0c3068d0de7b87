import { randomBytes } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, inject, it } from 'vitest';
import { EventType, OrchestrationStatusCode, type HistoryEvent } from '../../infra/local/durable/history.js';
import { OrchestrationState, type InstanceRecord } from '../../infra/local/durable/state.js';
import { TaskHubStore } from '../../infra/local/durable/taskHubStore.js';

const hex = (n: number) => randomBytes(n).toString('hex');

async function freshStore(): Promise<TaskHubStore> {
  const connectionString = inject('azurite');
  const hub = `h${hex(5)}`;
  const store = new TaskHubStore(
    TableClient.fromConnectionString(connectionString, `${hub}Instances`, { allowInsecureConnection: true }),
    TableClient.fromConnectionString(connectionString, `${hub}History`, { allowInsecureConnection: true }),
    BlobServiceClient.fromConnectionString(connectionString).getContainerClient(`${hub}-largemessages`),
  );
  await store.ensure();
  return store;
}

const at = (second: number) => `2026-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;

function running(instanceId: string): OrchestrationState {
  const record: InstanceRecord = {
    instanceId,
    name: 'counter',
    version: '',
    executionId: 'exec-1',
    status: 'Running',
    input: '{"n":0}',
    output: null,
    customStatus: null,
    createdTime: at(0),
    lastUpdatedTime: at(0),
    parent: {
      Name: 'parent',
      OrchestrationInstance: { InstanceId: 'parent-1', ExecutionId: 'parent-exec' },
      TaskScheduleId: 4,
    },
  };
  const state = new OrchestrationState(record);
  state.append({
    EventType: EventType.ExecutionStarted,
    EventId: -1,
    IsPlayed: false,
    Timestamp: at(0),
    Name: 'counter',
    Input: '{"n":0}',
    ParentInstance: record.parent,
  });
  state.append({
    EventType: EventType.TaskScheduled,
    EventId: 0,
    IsPlayed: false,
    Timestamp: at(1),
    Name: 'echo',
  });
  return state;
}

/** The echo task completes, then the execution ends with `ending`. */
function finish(state: OrchestrationState, ending: HistoryEvent[]): void {
  state.append({
    EventType: EventType.TaskCompleted,
    EventId: -1,
    IsPlayed: false,
    Timestamp: at(2),
    TaskScheduledId: 0,
    Result: '1',
  });
  for (const event of ending) state.append(event);
  state.record.status = 'Completed';
}

/**
 * Commits `ending` onto a running instance the way a crash between the history's commit and the
 * instance row's write leaves it: the history has it, the row is still the running one.
 */
async function commitTorn(store: TaskHubStore, instanceId: string, ending: HistoryEvent[]): Promise<void> {
  const state = running(instanceId);
  await store.commit(state);
  const before = structuredClone(state.record);
  finish(state, ending);
  await store.commit(state);
  await store.putInstance(before);
}

describe('the local task hub store', () => {
  it('should repair an instance row left Running by a crash after its history continued as new', async () => {
    const store = await freshStore();
    const id = `i-${hex(4)}`;
    await commitTorn(store, id, [
      {
        EventType: EventType.ExecutionCompleted,
        EventId: -1,
        IsPlayed: true,
        Timestamp: at(3),
        OrchestrationStatus: OrchestrationStatusCode.ContinuedAsNew,
        Result: '{"n":1}',
      },
    ]);
    expect((await store.getInstance(id))!.record.status).toBe('Running');

    const { state } = await store.load(id);
    expect(state!.record).toMatchObject({
      status: 'ContinuedAsNew',
      output: '{"n":1}',
      lastUpdatedTime: at(3),
    });
    expect(state!.record.completedTime).toBeUndefined();
    // Repaired in storage too, where status queries read it.
    expect((await store.getInstance(id))!.record).toMatchObject({
      status: 'ContinuedAsNew',
      output: '{"n":1}',
    });
  });

  it('should repair a row left Running after its history failed, with the failure a status query shows', async () => {
    const store = await freshStore();
    const id = `i-${hex(4)}`;
    const failure = { ErrorType: 'Error', ErrorMessage: 'boom' };
    await commitTorn(store, id, [
      {
        EventType: EventType.ExecutionCompleted,
        EventId: -1,
        IsPlayed: true,
        Timestamp: at(3),
        OrchestrationStatus: OrchestrationStatusCode.Failed,
        Result: JSON.stringify('boom'),
        FailureDetails: failure,
      },
    ]);
    await store.load(id);
    expect((await store.getInstance(id))!.record).toMatchObject({
      status: 'Failed',
      output: JSON.stringify("Orchestrator function 'counter' failed: boom"),
      failureDetails: failure,
      completedTime: at(3),
    });
  });

  it('should rebuild a lost instance row from history, in the state the history ended in', async () => {
    const store = await freshStore();
    const id = `i-${hex(4)}`;
    const state = running(id);
    finish(state, [
      {
        EventType: EventType.ExecutionCompleted,
        EventId: -1,
        IsPlayed: true,
        Timestamp: at(3),
        OrchestrationStatus: OrchestrationStatusCode.Completed,
        Result: '{"n":1}',
      },
    ]);
    await store.commit(state);
    await store.instances.deleteEntity(id, '');

    const loaded = await store.load(id);
    expect(loaded.state!.record).toMatchObject({
      status: 'Completed',
      output: '{"n":1}',
      completedTime: at(3),
    });
    expect((await store.getInstance(id))!.record).toMatchObject({
      status: 'Completed',
      parent: state.record.parent,
    });
  });

  it('should leave a row that agrees with its history untouched', async () => {
    const store = await freshStore();
    const id = `i-${hex(4)}`;
    await store.commit(running(id));
    const { etag } = (await store.getInstance(id))!;
    const { state } = await store.load(id);
    expect(state!.record.status).toBe('Running');
    expect((await store.getInstance(id))!.etag).toBe(etag);
  });
});

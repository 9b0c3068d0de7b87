import {
  entityInstanceId,
  OPERATION_EVENT_NAME,
  requestEvent,
  requestId,
  type RequestMessage,
} from './entities.js';
import { EventType } from './history.js';
import type { Outbox } from './outbox.js';
import { Action, rawInputText, type SdkAction } from './sdkActions.js';
import type { OrchestrationState } from './state.js';

/** The event name a critical section's release is recorded under, as the extension records it. */
export const RELEASE_EVENT_NAME = 'release';

/**
 * Records an orchestration's message to an entity (an EventSent, as the extension records it)
 * and sends it, numbered in this execution's sequence to that entity so the entity applies it
 * once and in order: an operation call or signal, a lock (to the first entity of the set, which
 * passes it on), or the release of one entity of a lock. A call's or lock's answer comes back as
 * an event named after the request id.
 */
export function sendToEntity(
  state: OrchestrationState,
  outbox: Outbox,
  action: SdkAction,
  taskId: number,
  now: Date,
): void {
  const record = state.record;
  const timestamp = now.toISOString();
  let target = action.instanceId ?? '';
  let request: RequestMessage;
  let name = OPERATION_EVENT_NAME;
  const common = { parent: record.instanceId, parentExecution: record.executionId, timestamp };
  switch (action.actionType) {
    case Action.LockEntities: {
      const lockset = (action.lockSet ?? []).map(entityInstanceId);
      target = lockset[0] ?? '';
      request = {
        id: action.lockRequestId ?? requestId(record.instanceId, record.executionId, taskId),
        op: '',
        lockset,
        pos: 0,
        ...common,
      };
      break;
    }
    case Action.ReleaseEntities:
      name = RELEASE_EVENT_NAME;
      request = {
        id: requestId(record.instanceId, record.executionId, taskId),
        op: '',
        release: true,
        ...common,
      };
      break;
    default:
      request = {
        id: requestId(record.instanceId, record.executionId, taskId),
        op: action.operation ?? '',
        ...(action.actionType === Action.SignalEntity ? { signal: true } : {}),
        input: rawInputText(action.input),
        ...common,
      };
  }
  const text = send(state, outbox, target, request);
  state.append({
    EventType: EventType.EventSent,
    EventId: taskId,
    IsPlayed: false,
    Timestamp: timestamp,
    Name: name,
    InstanceId: target,
    Input: text,
  });
}

/**
 * Releases what a critical section still holds when its execution ends (completed, failed,
 * continued as new), as the extension does, so the entities are not locked for good.
 */
export function releaseHeldLocks(state: OrchestrationState, outbox: Outbox, now: Date): void {
  const record = state.record;
  const timestamp = now.toISOString();
  for (const target of state.locks) {
    const count = state.sentTo.get(target)?.count ?? 0;
    send(state, outbox, target, {
      id: requestId(record.instanceId, `${record.executionId}/release:${target}`, count),
      op: '',
      release: true,
      parent: record.instanceId,
      parentExecution: record.executionId,
      timestamp,
    });
    state.sentTo.set(target, { count: count + 1, at: timestamp });
  }
  state.locks = [];
}

function send(state: OrchestrationState, outbox: Outbox, target: string, request: RequestMessage): string {
  const record = state.record;
  const previous = state.sentTo.get(target);
  const full: RequestMessage = {
    ...request,
    sender: `${record.instanceId}/${record.executionId}`,
    seq: (previous?.count ?? 0) + 1,
    ...(previous ? { prevSentAt: previous.at } : {}),
  };
  const event = requestEvent(full);
  outbox.controlWithId(request.lockset ? `${request.id}:lock` : request.id, target, undefined, event);
  return event.Input!;
}

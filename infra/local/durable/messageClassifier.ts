import { startsHttpPoll } from './durableHttp.js';
import { createHash } from 'node:crypto';
import type { ComponentLogger } from '../host/logger.js';
import { EventType, TERMINAL_STATUSES, type HistoryEvent, type ParentInstanceInfo } from './history.js';
import type { ControlMessage } from './messages.js';
import { completionTarget, type OrchestrationState, type ScheduledTask } from './state.js';

/**
 * The execution id a continue-as-new starts. Derived from the execution that continued, so an
 * episode that runs again after a crash (its messages sent, its history not yet committed)
 * starts the same execution again, which is then a duplicate, not a second start.
 */
export function continuationExecutionId(executionId: string): string {
  return createHash('sha256').update(`${executionId}/continued`).digest('hex').slice(0, 32);
}

/** True when both name the same parent execution and the same task of it. */
function sameCreation(a: ParentInstanceInfo | undefined, b: ParentInstanceInfo | undefined): boolean {
  return (
    a !== undefined &&
    b !== undefined &&
    a.OrchestrationInstance.InstanceId === b.OrchestrationInstance.InstanceId &&
    a.OrchestrationInstance.ExecutionId === b.OrchestrationInstance.ExecutionId &&
    a.TaskScheduleId === b.TaskScheduleId
  );
}

/** What the session does with a message. */
export type Classification =
  | 'start'
  | 'recreate'
  | 'apply'
  | 'allocating'
  | 'duplicate'
  | 'stale'
  | 'defer'
  | 'terminate'
  | 'suspend'
  | 'resume'
  | 'buffer'
  | 'reject-start';

/**
 * What to do with a control message, given the instance's state and the messages already taken
 * into the episode being gathered (`seen`): a first decision, made before any state changes.
 */
export function classifyMessage(
  state: OrchestrationState | undefined,
  message: ControlMessage,
  seen: { targets: Set<number>; ids: Set<string> },
  context: { knownPending: boolean; log: ComponentLogger },
): Classification {
  const event = message.event;
  if (event.EventType === EventType.ExecutionStarted) {
    const executionId = event.OrchestrationInstance?.ExecutionId;
    if (!state) return 'start';
    const record = state.record;
    if (executionId === record.executionId) {
      const started = state.history.length > 0 || state.persistedRows > 0;
      return started || TERMINAL_STATUSES.has(record.status) ? 'duplicate' : 'start';
    }
    // A continue-as-new's start; before its episode is committed, it came from a run of that
    // episode that crashed, and the run that commits will send it again.
    if (executionId === continuationExecutionId(record.executionId))
      return record.status === 'ContinuedAsNew' ? 'start' : 'stale';
    // The parent's episode that created this child ran again (it crashed after sending, before
    // committing): the child exists, whatever execution it is on now.
    if (sameCreation(event.ParentInstance, record.parent)) return 'recreate';
    if (TERMINAL_STATUSES.has(record.status) || record.status === 'ContinuedAsNew') return 'start';
    return 'reject-start';
  }

  if (!state || (state.history.length === 0 && state.persistedRows === 0)) {
    if (state && TERMINAL_STATUSES.has(state.record.status)) return 'stale';
    return context.knownPending || state ? 'defer' : 'stale';
  }
  const record = state.record;
  if (TERMINAL_STATUSES.has(record.status) || record.status === 'ContinuedAsNew') {
    return record.status === 'ContinuedAsNew' && !message.executionId ? 'defer' : 'stale';
  }
  if (message.executionId && message.executionId !== record.executionId) return 'stale';
  if (state.messageIds.has(message.id) || seen.ids.has(message.id)) return 'duplicate';

  switch (event.EventType) {
    case EventType.ExecutionTerminated:
      return 'terminate';
    case EventType.ExecutionSuspended:
      return record.status === 'Running' ? 'suspend' : 'stale';
    case EventType.ExecutionResumed:
      return record.status === 'Suspended' ? 'resume' : 'stale';
    default:
      break;
  }
  if (record.status === 'Suspended') return 'buffer';

  const target = completionTarget(event);
  if (target !== undefined) {
    const task = state.scheduled.get(target);
    if (!task || state.resolved.has(target) || seen.targets.has(target)) return 'duplicate';
    return isAllocating(event, task) ? 'allocating' : 'apply';
  }
  if (event.EventType === EventType.EventRaised) return 'apply';
  context.log.warn(`instance ${message.instanceId}: ignoring unexpected ${event.EventType} message`);
  return 'stale';
}

/**
 * Whether applying the event makes the runtime allocate a task id (a retry's timer or its next
 * attempt), which must come first in its episode so the ids match the SDK's.
 */
export function isAllocating(event: HistoryEvent, task: ScheduledTask): boolean {
  if (startsHttpPoll(event, task)) return true;
  if (
    event.EventType === EventType.TaskFailed ||
    event.EventType === EventType.SubOrchestrationInstanceFailed
  ) {
    return task.retry !== undefined;
  }
  if (event.EventType === EventType.TimerFired && task.isRetryTimer && task.retry) {
    return task.attempt < task.retry.maxNumberOfAttempts;
  }
  return false;
}

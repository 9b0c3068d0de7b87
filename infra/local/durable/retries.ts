import { EventType, type HistoryEvent } from './history.js';
import type { Outbox } from './outbox.js';
import { retryDelayMs } from './sdkActions.js';
import type { OrchestrationState, ScheduledTask } from './state.js';

/**
 * Drives a retry the SDK asked for, when the event that needs it is applied. A failed attempt
 * gets the timer the SDK waits on: the backoff interval, after the last attempt too, as Durable
 * Task's RetryInterceptor waits it before it reports the failure (at once only past the retry
 * timeout); a fired retry timer schedules the next attempt under a new task id, or fails it at
 * once if the retry timeout has passed.
 */
export function decideRetry(
  state: OrchestrationState,
  outbox: Outbox,
  event: HistoryEvent,
  task: ScheduledTask,
  now: Date,
): void {
  const policy = task.retry!;
  const rootId = task.rootId ?? task.eventId;
  const root = state.scheduled.get(rootId) ?? task;
  const firstAttemptAt = Date.parse(task.firstAttemptAt ?? now.toISOString());
  const timedOut =
    policy.retryTimeoutInMilliseconds !== undefined &&
    policy.retryTimeoutInMilliseconds > 0 &&
    now.getTime() - firstAttemptAt >= policy.retryTimeoutInMilliseconds;

  if (event.EventType === EventType.TimerFired) {
    // The retry timer fired and attempts remain: schedule the next attempt under a new id.
    const id = state.nextEventId;
    const attempt = task.attempt + 1;
    const timer = state.history.find(
      (e) => e.EventType === EventType.TimerCreated && e.EventId === task.eventId,
    );
    if (root.kind === 'subOrchestration') {
      // A child id the orchestrator chose is kept, so every attempt is found under it; a
      // generated one follows the new task id. (Histories from before the flag was kept tell by
      // the id's shape, which a chosen `<parent>:<n>` defeats.)
      const generated = `${state.record.instanceId}:${root.eventId}`;
      const chosen = root.chosenInstanceId ?? root.subInstanceId !== generated;
      const childId = chosen && root.subInstanceId ? root.subInstanceId : `${state.record.instanceId}:${id}`;
      state.append({
        EventType: EventType.SubOrchestrationInstanceCreated,
        EventId: id,
        IsPlayed: false,
        Timestamp: now.toISOString(),
        Name: root.name ?? '',
        Input: root.input ?? null,
        InstanceId: childId,
        ...(chosen ? { InstanceIdChosen: true } : {}),
        RetryOf: rootId,
        Attempt: attempt,
        ...(root.version ? { Version: root.version } : {}),
      });
      if (timedOut && timer) failNow(state, outbox, EventType.SubOrchestrationInstanceFailed, id, timer, now);
      else outbox.startChild(childId, root.name ?? '', root.version ?? '', root.input ?? null, id, now);
    } else {
      state.append({
        EventType: EventType.TaskScheduled,
        EventId: id,
        IsPlayed: false,
        Timestamp: now.toISOString(),
        Name: root.name ?? '',
        Input: root.input ?? null,
        RetryOf: rootId,
        Attempt: attempt,
      });
      if (timedOut && timer) failNow(state, outbox, EventType.TaskFailed, id, timer, now);
      else outbox.activity(root.name ?? '', root.input ?? null, id, attempt);
    }
    return;
  }

  // An attempt failed: the SDK now waits on a timer before it retries or gives up. Past the
  // retry timeout it fires at once, carrying the SDK to the failure; otherwise it waits the
  // backoff interval, after the last attempt as well (DTFx computes the delay before it looks at
  // the attempt count), so a failure surfaces when it would on Azure.
  const delay = timedOut ? 0 : retryDelayMs(policy, task.attempt);
  const id = state.nextEventId;
  const fireAt = new Date(now.getTime() + delay);
  state.append({
    EventType: EventType.TimerCreated,
    EventId: id,
    IsPlayed: false,
    Timestamp: now.toISOString(),
    FireAt: fireAt.toISOString(),
    RetryOf: rootId,
    Attempt: task.attempt,
    ...(event.Reason !== undefined ? { Reason: event.Reason } : {}),
    ...(event.Details !== undefined ? { Details: event.Details } : {}),
    ...(event.FailureDetails ? { FailureDetails: event.FailureDetails } : {}),
  });
  outbox.timer(id, fireAt);
}

/** Fails a retry attempt without running it (the retry timeout passed), repeating the last failure. */
function failNow(
  state: OrchestrationState,
  outbox: Outbox,
  type: typeof EventType.TaskFailed | typeof EventType.SubOrchestrationInstanceFailed,
  id: number,
  lastFailure: HistoryEvent,
  now: Date,
): void {
  outbox.control(state.record.instanceId, state.record.executionId, {
    EventType: type,
    EventId: -1,
    IsPlayed: false,
    Timestamp: now.toISOString(),
    TaskScheduledId: id,
    Reason: lastFailure.Reason ?? 'Retry timeout exceeded',
    Details: lastFailure.Details ?? '',
    ...(lastFailure.FailureDetails ? { FailureDetails: lastFailure.FailureDetails } : {}),
  });
}

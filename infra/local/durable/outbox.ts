import { EventType, type FailureDetails, type HistoryEvent } from './history.js';
import type { Outbound } from './messages.js';
import { parseJsonText } from './sdkActions.js';
import type { InstanceRecord } from './state.js';

/**
 * What an orchestration session sends: activities to run, timers, child starts and outcomes for
 * its parent, each a message with a fresh id, kept in order for the dispatcher to send on commit.
 */
export class Outbox {
  readonly messages: Outbound[] = [];
  readonly #newId: () => string;
  readonly #current: () => InstanceRecord;

  /** `current` gives the execution the session is on when a message is made. */
  constructor(newId: () => string, current: () => InstanceRecord) {
    this.#newId = newId;
    this.#current = current;
  }

  /** Tells the parent, if any, that this child completed with its output. */
  parentCompleted(record: InstanceRecord, now: Date): void {
    this.#parent(record, now, {
      EventType: EventType.SubOrchestrationInstanceCompleted,
      Result: record.output,
    });
  }

  /** Tells the parent, if any, that this child failed. */
  parentFailed(record: InstanceRecord, details: string, failureDetails: FailureDetails, now: Date): void {
    this.#parent(record, now, {
      EventType: EventType.SubOrchestrationInstanceFailed,
      Reason: String(parseJsonText(record.output)),
      Details: details,
      FailureDetails: failureDetails,
    });
  }

  #parent(
    record: InstanceRecord,
    now: Date,
    outcome: Pick<HistoryEvent, 'EventType'> & Partial<HistoryEvent>,
  ): void {
    const parent = record.parent;
    if (!parent) return;
    this.control(parent.OrchestrationInstance.InstanceId, parent.OrchestrationInstance.ExecutionId, {
      EventId: -1,
      IsPlayed: false,
      Timestamp: now.toISOString(),
      TaskScheduledId: parent.TaskScheduleId,
      ...outcome,
    });
  }

  /** Schedules one attempt of an activity for the work-item queue. */
  activity(name: string, input: string | null, taskScheduledId: number, attempt: number): void {
    const record = this.#current();
    this.messages.push({
      kind: 'activity',
      item: {
        id: this.#newId(),
        instanceId: record.instanceId,
        executionId: record.executionId,
        name,
        taskScheduledId,
        input,
        attempt,
      },
    });
  }

  /** A TimerFired message for the execution, invisible until the timer is due. */
  timer(timerId: number, fireAt: Date): void {
    const record = this.#current();
    this.messages.push({
      kind: 'control',
      visibleAt: fireAt.getTime(),
      message: {
        id: this.#newId(),
        instanceId: record.instanceId,
        executionId: record.executionId,
        event: {
          EventType: EventType.TimerFired,
          EventId: -1,
          IsPlayed: false,
          Timestamp: fireAt.toISOString(),
          TimerId: timerId,
          FireAt: fireAt.toISOString(),
        },
      },
    });
  }

  /** Starts a sub-orchestration, naming this execution and task as its parent. */
  startChild(
    childId: string,
    name: string,
    version: string,
    input: string | null,
    taskId: number,
    now: Date,
  ): void {
    const record = this.#current();
    this.control(childId, undefined, {
      EventType: EventType.ExecutionStarted,
      EventId: -1,
      IsPlayed: false,
      Timestamp: now.toISOString(),
      Name: name,
      Version: version,
      Input: input,
      OrchestrationInstance: { InstanceId: childId, ExecutionId: this.#newId() },
      ParentInstance: {
        Name: record.name,
        OrchestrationInstance: { InstanceId: record.instanceId, ExecutionId: record.executionId },
        TaskScheduleId: taskId,
      },
    });
  }

  /** Any event for an instance (this one or another), as a control message. */
  control(instanceId: string, executionId: string | undefined, event: HistoryEvent): void {
    this.controlWithId(this.#newId(), instanceId, executionId, event);
  }

  /** A control message whose id the caller derived, so a repeat of it is recognised as one. */
  controlWithId(id: string, instanceId: string, executionId: string | undefined, event: HistoryEvent): void {
    this.messages.push({
      kind: 'control',
      message: { id, instanceId, ...(executionId ? { executionId } : {}), event },
    });
  }
}

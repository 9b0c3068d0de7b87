/**
 * Durable Task history events, in the PascalCase wire shape the durable-functions SDK replays.
 * Fields the SDK does not read but the runtime needs to rebuild its own bookkeeping after a
 * restart (retry attempts, the inbound message an event came from) ride along on the same objects.
 */

export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export type EventTypeValue = (typeof EventType)[keyof typeof EventType];

const EVENT_TYPE_NAMES = Object.fromEntries(Object.entries(EventType).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;

export function eventTypeName(type: number): string {
  return EVENT_TYPE_NAMES[type] ?? `Unknown(${type})`;
}

/** DTFx's OrchestrationStatus numbers, as ExecutionCompleted carries them. */
export const OrchestrationStatusCode = {
  Running: 0,
  Completed: 1,
  ContinuedAsNew: 2,
  Failed: 3,
  Canceled: 4,
  Terminated: 5,
  Pending: 6,
  Suspended: 7,
} as const;

/** Runtime status names the Durable HTTP API and client use. */
export type RuntimeStatus =
  'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Terminated' | 'Suspended';

export const TERMINAL_STATUSES: ReadonlySet<RuntimeStatus> = new Set(['Completed', 'Failed', 'Terminated']);

export interface FailureDetails {
  ErrorType: string;
  ErrorMessage: string;
  StackTrace?: string;
  IsNonRetriable?: boolean;
  InnerFailure?: FailureDetails;
  Properties?: Record<string, unknown>;
}

export interface OrchestrationInstanceRef {
  InstanceId: string;
  ExecutionId: string;
}

export interface ParentInstanceInfo {
  Name: string;
  OrchestrationInstance: OrchestrationInstanceRef;
  TaskScheduleId: number;
}

/** Retry options as the SDK's RetryOptions serialises them. */
export interface RetryPolicy {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

export interface HistoryEvent {
  EventType: EventTypeValue;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  Name?: string;
  Version?: string;
  Input?: string | null;
  Result?: string | null;
  Reason?: string;
  Details?: string;
  FailureDetails?: FailureDetails;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  InstanceId?: string;
  OrchestrationInstance?: OrchestrationInstanceRef;
  ParentInstance?: ParentInstanceInfo;
  OrchestrationStatus?: number;
  /** Runtime bookkeeping: the inbound queue message that produced this event. */
  MessageId?: string;
  /** Runtime bookkeeping: for retry-generated events, the EventId of the action being retried. */
  RetryOf?: number;
  /** Runtime bookkeeping: the attempt this scheduling (or the retry timer after it) belongs to. */
  Attempt?: number;
  /** Runtime bookkeeping: the retry policy of a CallActivityWithRetry / CallSubOrchestratorWithRetry. */
  RetryOptions?: RetryPolicy;
  /** Runtime bookkeeping: when a retried action was first scheduled (for its retry timeout). */
  FirstAttemptAt?: string;
  /** Runtime bookkeeping: the orchestrator named this sub-orchestration's instance id. */
  InstanceIdChosen?: boolean;
  /**
   * Runtime bookkeeping: for the timer and follow-up call the runtime adds while a durable HTTP
   * call answered 202, the EventId of the call that answered so.
   */
  PollOf?: number;
  /** Runtime bookkeeping: on a poll timer, the EventId of the call to make when it fires. */
  PollTask?: number;
}

/** The events that allocate an id from the orchestration's sequence (the SDK's task ids). */
export function isSchedulingEvent(event: HistoryEvent): boolean {
  return (
    event.EventType === EventType.TaskScheduled ||
    event.EventType === EventType.TimerCreated ||
    event.EventType === EventType.SubOrchestrationInstanceCreated ||
    event.EventType === EventType.EventSent
  );
}

import {
  EventType,
  isSchedulingEvent,
  OrchestrationStatusCode,
  type FailureDetails,
  type HistoryEvent,
  type ParentInstanceInfo,
  type RetryPolicy,
  type RuntimeStatus,
} from './history.js';

/** An orchestration instance as the Instances table holds it. JSON payloads stay as text. */
export interface InstanceRecord {
  instanceId: string;
  name: string;
  version: string;
  executionId: string;
  status: RuntimeStatus;
  input: string | null;
  output: string | null;
  customStatus: string | null;
  createdTime: string;
  lastUpdatedTime: string;
  completedTime?: string;
  failureDetails?: FailureDetails;
  parent?: ParentInstanceInfo;
}

/** What the runtime knows about one id of the orchestration's task sequence. */
export interface ScheduledTask {
  eventId: number;
  kind: 'activity' | 'timer' | 'subOrchestration' | 'eventSent';
  name?: string;
  input?: string | null;
  /** For retry-generated schedulings and retry timers: the id of the action being retried. */
  rootId?: number;
  attempt: number;
  retry?: RetryPolicy;
  firstAttemptAt?: string;
  isRetryTimer: boolean;
  subInstanceId?: string;
  /** Whether the orchestrator named the child's instance id (retries then keep it). */
  chosenInstanceId?: boolean;
  /** For a durable HTTP poll timer: the call to make when it fires. */
  pollTask?: number;
  version?: string;
}

/** An event held while its orchestration is suspended, persisted until it is resumed. */
export interface BufferedEvent {
  messageId: string;
  executionId?: string;
  event: HistoryEvent;
}

/**
 * One orchestration instance in memory: its record, the current execution's history, and the
 * indexes the runtime derives from that history. Everything here can be rebuilt from what is
 * persisted, which is what makes a restart lose nothing.
 */
export class OrchestrationState {
  record: InstanceRecord;
  history: HistoryEvent[] = [];
  buffered: BufferedEvent[] = [];
  /** History rows in the table for `persistedExecutionId`, per the sentinel. */
  persistedRows = 0;
  persistedExecutionId: string | undefined;
  persistedBuffered = 0;
  /** The sentinel row's ETag, for optimistic concurrency on commit. */
  etag: string | undefined;

  nextEventId = 0;
  readonly scheduled = new Map<number, ScheduledTask>();
  readonly resolved = new Set<number>();
  readonly messageIds = new Set<string>();
  /** Scheduling events that came from the orchestrator's own actions (not retries), in order. */
  readonly actionEvents: HistoryEvent[] = [];
  /** Per entity this execution sent operations to: how many, and when it sent the last. */
  readonly sentTo = new Map<string, { count: number; at: string }>();
  /** The entities this execution's critical section holds (locked, not yet released). */
  locks: string[] = [];

  constructor(record: InstanceRecord) {
    this.record = record;
  }

  static rebuild(record: InstanceRecord, history: HistoryEvent[]): OrchestrationState {
    const state = new OrchestrationState(record);
    for (const event of history) state.append(event);
    return state;
  }

  /** Starts a new execution (restart or continue-as-new): history and indexes start empty. */
  resetHistory(): void {
    this.history = [];
    this.nextEventId = 0;
    this.scheduled.clear();
    this.resolved.clear();
    this.messageIds.clear();
    this.actionEvents.length = 0;
    this.sentTo.clear();
    this.locks = [];
  }

  append(event: HistoryEvent): void {
    this.history.push(event);
    if (event.MessageId) this.messageIds.add(event.MessageId);
    if (isSchedulingEvent(event)) {
      this.nextEventId = Math.max(this.nextEventId, event.EventId + 1);
      this.scheduled.set(event.EventId, this.#describe(event));
      // What the runtime adds for a retry or a durable HTTP poll is not one of the orchestrator's actions.
      if (event.RetryOf === undefined && event.PollOf === undefined) this.actionEvents.push(event);
      if (event.EventType === EventType.EventSent && event.InstanceId !== undefined) {
        const sent = this.sentTo.get(event.InstanceId);
        this.sentTo.set(event.InstanceId, { count: (sent?.count ?? 0) + 1, at: event.Timestamp });
        this.#trackLocks(event);
      }
      return;
    }
    const id = completionTarget(event);
    if (id !== undefined) this.resolved.add(id);
  }

  #trackLocks(event: HistoryEvent): void {
    if (event.Name === 'release') {
      this.locks = this.locks.filter((id) => id !== event.InstanceId);
    } else if (event.Input?.includes('"lockset"')) {
      const request = JSON.parse(event.Input) as { lockset?: string[] };
      if (request.lockset) this.locks = [...request.lockset];
    }
  }

  #describe(event: HistoryEvent): ScheduledTask {
    const root = event.RetryOf === undefined ? undefined : this.scheduled.get(event.RetryOf);
    const kind = scheduledKind(event);
    return {
      eventId: event.EventId,
      kind,
      ...(event.Name !== undefined ? { name: event.Name } : {}),
      ...(event.Input !== undefined ? { input: event.Input } : {}),
      ...(event.RetryOf !== undefined ? { rootId: event.RetryOf } : {}),
      attempt: event.Attempt ?? 1,
      ...((event.RetryOptions ?? root?.retry) ? { retry: event.RetryOptions ?? root?.retry } : {}),
      ...((event.FirstAttemptAt ?? root?.firstAttemptAt)
        ? { firstAttemptAt: event.FirstAttemptAt ?? root?.firstAttemptAt }
        : {}),
      isRetryTimer: kind === 'timer' && event.RetryOf !== undefined,
      ...(event.InstanceId !== undefined ? { subInstanceId: event.InstanceId } : {}),
      ...(event.InstanceIdChosen !== undefined ? { chosenInstanceId: event.InstanceIdChosen } : {}),
      ...(event.PollTask !== undefined ? { pollTask: event.PollTask } : {}),
      ...(event.Version !== undefined ? { version: event.Version } : {}),
    };
  }
}

/** The kind of task a scheduling event started. */
export function scheduledKind(event: HistoryEvent): ScheduledTask['kind'] {
  switch (event.EventType) {
    case EventType.TaskScheduled:
      return 'activity';
    case EventType.TimerCreated:
      return 'timer';
    case EventType.SubOrchestrationInstanceCreated:
      return 'subOrchestration';
    default:
      return 'eventSent';
  }
}

/** The task id a completion event resolves, if it is one. */
export function completionTarget(event: HistoryEvent): number | undefined {
  switch (event.EventType) {
    case EventType.TaskCompleted:
    case EventType.TaskFailed:
    case EventType.SubOrchestrationInstanceCompleted:
    case EventType.SubOrchestrationInstanceFailed:
      return event.TaskScheduledId;
    case EventType.TimerFired:
      return event.TimerId;
    default:
      return undefined;
  }
}

/** The output a failed orchestration reports, as the Durable HTTP API shows it. */
export function failedOutput(name: string, message: string): string {
  return JSON.stringify(`Orchestrator function '${name}' failed: ${message}`);
}

const STATUS_BY_CODE = new Map<number, RuntimeStatus>(
  Object.entries(OrchestrationStatusCode).map(([name, code]) => [code, name as RuntimeStatus]),
);

/**
 * Brings an instance record in line with its execution's history, which is written first and
 * is the truth: a crash after the history's commit and before the instance row's write leaves the
 * row a step behind (still Running after the history completed, continued as new or was
 * suspended). Returns true when the record changed.
 */
export function reconcileRecord(record: InstanceRecord, history: readonly HistoryEvent[]): boolean {
  if (history.length === 0) return false;
  let status: RuntimeStatus = 'Running';
  let ending: HistoryEvent | undefined;
  for (const event of history) {
    if (event.EventType === EventType.ExecutionSuspended) status = 'Suspended';
    else if (event.EventType === EventType.ExecutionResumed) status = 'Running';
    else if (event.EventType === EventType.ExecutionTerminated) {
      status = 'Terminated';
      ending = event;
    } else if (event.EventType === EventType.ExecutionCompleted) {
      status = STATUS_BY_CODE.get(event.OrchestrationStatus ?? -1) ?? 'Completed';
      ending = event;
    }
  }
  if (status === record.status) return false;
  record.status = status;
  const last = history[history.length - 1]!;
  record.lastUpdatedTime = last.Timestamp;
  if (ending && status !== 'ContinuedAsNew') record.completedTime = ending.Timestamp;
  if (status === 'Terminated') record.output = ending?.Input ?? null;
  else if (status === 'Completed' || status === 'ContinuedAsNew') record.output = ending?.Result ?? null;
  else if (status === 'Failed') {
    const message = ending?.Result ? String(JSON.parse(ending.Result)) : '';
    record.output = failedOutput(record.name, message);
    if (ending?.FailureDetails) record.failureDetails = ending.FailureDetails;
  }
  return true;
}

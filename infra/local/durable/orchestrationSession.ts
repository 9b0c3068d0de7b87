import { createHash } from 'node:crypto';
import type { ComponentLogger } from '../host/logger.js';
import {
  EventType,
  OrchestrationStatusCode,
  TERMINAL_STATUSES,
  type FailureDetails,
  type HistoryEvent,
  type ParentInstanceInfo,
  type RetryPolicy,
} from './history.js';
import {
  completionTarget,
  failedOutput,
  OrchestrationState,
  type InstanceRecord,
  type ScheduledTask,
} from './state.js';

/** A message on a control queue: one history event for one instance. */
export interface ControlMessage {
  /** Unique per logical message; an event applied once is never applied again. */
  id: string;
  instanceId: string;
  /** The execution the event belongs to; absent for events aimed at whatever execution is current. */
  executionId?: string;
  event: HistoryEvent;
}

/** A message on the work-item queue: one activity to run. */
export interface ActivityWorkItem {
  id: string;
  instanceId: string;
  executionId: string;
  name: string;
  taskScheduledId: number;
  /** JSON text of the input, or null for none. */
  input: string | null;
  attempt: number;
}

export type Outbound =
  | { kind: 'activity'; item: ActivityWorkItem }
  | { kind: 'control'; message: ControlMessage; visibleAt?: number };

export interface OrchestratorInvocation {
  name: string;
  instanceId: string;
  history: HistoryEvent[];
  input: unknown;
  parentInstanceId?: string;
}

/** What an orchestrator run produced, as the SDK's OrchestratorState or its failure. */
export type OrchestratorOutcome =
  | { kind: 'ran'; isDone: boolean; actions: unknown; output: unknown; customStatus: unknown }
  | { kind: 'failed'; message: string; failureDetails: FailureDetails; customStatus: unknown };

export interface EpisodeContext {
  now(): Date;
  newId(): string;
  runOrchestrator(invocation: OrchestratorInvocation): Promise<OrchestratorOutcome>;
  log: ComponentLogger;
}

export interface SessionResult {
  state: OrchestrationState | undefined;
  outbound: Outbound[];
  /** Message ids that are done with: applied, or dropped as duplicates or stale. */
  consumed: string[];
  /** Message ids to try again later (the instance has not started yet). */
  deferred: string[];
  /** True when state changed and must be committed. */
  changed: boolean;
}

/** SDK action types (durable-functions ActionType). */
const Action = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

interface SdkAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryPolicy;
  instanceId?: string;
  version?: string;
  fireAt?: Date | string;
  isCanceled?: boolean;
  compoundActions?: SdkAction[];
}

const UNSUPPORTED_ACTIONS: Record<number, string> = {
  [Action.CallEntity]: 'callEntity (Durable entities)',
  [Action.SignalEntity]: 'signalEntity (Durable entities)',
  [Action.LockEntities]: 'lock (Durable entities)',
  [Action.ReleaseEntities]: 'entity locks (Durable entities)',
  [Action.CallHttp]: 'callHttp (durable HTTP)',
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Flattens the SDK's action tree (WhenAll / WhenAny nest their children) into the order the SDK
 * numbered the tasks. An action object that appears twice (a task yielded alone, then again inside
 * Task.all) was scheduled once, so it is kept once.
 */
export function flattenActions(actions: unknown): SdkAction[] {
  const result: SdkAction[] = [];
  const seen = new Set<object>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (!isObject(node) || typeof node.actionType !== 'number') return;
    if (seen.has(node)) return;
    seen.add(node);
    const action = node as unknown as SdkAction;
    if (action.actionType === Action.WhenAll || action.actionType === Action.WhenAny) {
      visit(action.compoundActions ?? []);
    } else {
      result.push(action);
    }
  };
  visit(actions);
  return result;
}

function consumesId(action: SdkAction): boolean {
  return action.actionType !== Action.ContinueAsNew && action.actionType !== Action.WaitForExternalEvent;
}

/** JSON text for an input the SDK passed through `Utils.processInput` (strings arrive pre-encoded). */
function processedInputText(input: unknown): string | null {
  if (input === undefined) return null;
  return typeof input === 'string' ? input : JSON.stringify(input);
}

function rawInputText(input: unknown): string | null {
  return input === undefined ? null : JSON.stringify(input);
}

export function parseJsonText(text: string | null | undefined): unknown {
  if (text === null || text === undefined || text === '') return undefined;
  return JSON.parse(text);
}

/** The delay before retry attempt `attempt + 1`, as DTFx's RetryInterceptor computes it. */
export function retryDelayMs(policy: RetryPolicy, attempt: number): number {
  const coefficient = policy.backoffCoefficient ?? 1;
  const delay = policy.firstRetryIntervalInMilliseconds * Math.pow(coefficient, attempt - 1);
  const cap = policy.maxRetryIntervalInMilliseconds;
  return cap && cap > 0 ? Math.min(delay, cap) : delay;
}

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

type Classification =
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
 * Applies a batch of control messages to one orchestration: decides for each whether it is new,
 * a duplicate, stale or early; groups the new ones into episodes; runs the orchestrator once per
 * episode; and turns the actions it returns into history events and outbound messages.
 *
 * Retries are the runtime's to drive (the SDK only counts ids for them), and the SDK numbers the
 * retry's timer and re-scheduled task when it reads the event that caused them. An episode
 * therefore holds at most one such event, first, so the runtime numbers it before any task the
 * orchestrator starts in the same episode, exactly as the SDK does.
 */
export class OrchestrationSession {
  #state: OrchestrationState | undefined;
  readonly #ctx: EpisodeContext;
  readonly #knownPending: boolean;
  readonly #outbound: Outbound[] = [];
  readonly #consumed: string[] = [];
  readonly #deferred: string[] = [];
  #changed = false;

  constructor(state: OrchestrationState | undefined, ctx: EpisodeContext, knownPending: boolean) {
    this.#state = state;
    this.#ctx = ctx;
    this.#knownPending = knownPending;
  }

  async process(messages: ControlMessage[]): Promise<SessionResult> {
    // A start that arrives in the same batch as events for the instance goes first.
    const queue = [...messages].sort(
      (a, b) =>
        Number(b.event.EventType === EventType.ExecutionStarted) -
        Number(a.event.EventType === EventType.ExecutionStarted),
    );
    let segment: ControlMessage[] = [];
    const seenTargets = new Set<number>();
    const seenIds = new Set<string>();

    const flush = async () => {
      if (segment.length === 0) return;
      const batch = segment;
      segment = [];
      seenTargets.clear();
      await this.#episode(batch);
    };

    while (queue.length > 0) {
      const message = queue.shift()!;
      const kind = this.#classify(message, seenTargets, seenIds);
      switch (kind) {
        case 'duplicate':
        case 'stale':
          this.#consumed.push(message.id);
          break;
        case 'defer':
          this.#deferred.push(message.id);
          break;
        case 'reject-start':
          this.#rejectStart(message);
          this.#consumed.push(message.id);
          break;
        case 'recreate':
          this.#answerRecreate(message);
          this.#consumed.push(message.id);
          break;
        case 'start':
          await flush();
          this.#beginExecution(message);
          segment.push(message);
          break;
        case 'terminate':
          await flush();
          this.#terminate(message);
          this.#consumed.push(message.id);
          break;
        case 'suspend':
          await flush();
          this.#suspend(message);
          this.#consumed.push(message.id);
          break;
        case 'resume': {
          await flush();
          const released = this.#resume(message);
          this.#consumed.push(message.id);
          queue.unshift(...released);
          break;
        }
        case 'buffer':
          this.#state!.buffered.push({
            messageId: message.id,
            ...(message.executionId ? { executionId: message.executionId } : {}),
            event: message.event,
          });
          this.#changed = true;
          this.#consumed.push(message.id);
          break;
        case 'allocating':
          await flush();
          segment.push(message);
          this.#noteSeen(message, seenTargets, seenIds);
          break;
        case 'apply':
          segment.push(message);
          this.#noteSeen(message, seenTargets, seenIds);
          break;
      }
    }
    await flush();
    return {
      state: this.#state,
      outbound: this.#outbound,
      consumed: this.#consumed,
      deferred: this.#deferred,
      changed: this.#changed,
    };
  }

  #noteSeen(message: ControlMessage, targets: Set<number>, ids: Set<string>): void {
    ids.add(message.id);
    const target = completionTarget(message.event);
    if (target !== undefined) targets.add(target);
  }

  #classify(message: ControlMessage, seenTargets: Set<number>, seenIds: Set<string>): Classification {
    const state = this.#state;
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
      return this.#knownPending || state ? 'defer' : 'stale';
    }
    const record = state.record;
    if (TERMINAL_STATUSES.has(record.status) || record.status === 'ContinuedAsNew') {
      return record.status === 'ContinuedAsNew' && !message.executionId ? 'defer' : 'stale';
    }
    if (message.executionId && message.executionId !== record.executionId) return 'stale';
    if (state.messageIds.has(message.id) || seenIds.has(message.id)) return 'duplicate';

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
      if (!task || state.resolved.has(target) || seenTargets.has(target)) return 'duplicate';
      return this.#isAllocating(event, task) ? 'allocating' : 'apply';
    }
    if (event.EventType === EventType.EventRaised) return 'apply';
    this.#ctx.log.warn(`instance ${message.instanceId}: ignoring unexpected ${event.EventType} message`);
    return 'stale';
  }

  #isAllocating(event: HistoryEvent, task: ScheduledTask): boolean {
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

  #beginExecution(message: ControlMessage): void {
    const event = message.event;
    const now = this.#ctx.now().toISOString();
    const previous = this.#state;
    const record: InstanceRecord = {
      instanceId: message.instanceId,
      name: event.Name ?? previous?.record.name ?? '',
      version: event.Version ?? '',
      executionId: event.OrchestrationInstance?.ExecutionId ?? this.#ctx.newId(),
      status: 'Running',
      input: event.Input ?? null,
      output: null,
      customStatus: null,
      // A continued-as-new instance keeps the time it was first created.
      createdTime:
        previous?.record.status === 'ContinuedAsNew' || (previous && previous.history.length === 0)
          ? previous.record.createdTime
          : now,
      lastUpdatedTime: now,
      ...(event.ParentInstance ? { parent: event.ParentInstance } : {}),
    };
    if (previous) {
      previous.record = record;
      previous.resetHistory();
      previous.buffered = [];
    } else {
      this.#state = new OrchestrationState(record);
    }
    this.#changed = true;
  }

  #rejectStart(message: ControlMessage): void {
    const parent = message.event.ParentInstance;
    this.#ctx.log.warn(`instance ${message.instanceId} is already running; a second start was refused`);
    if (!parent) return;
    const text = `An orchestration with instance ID '${message.instanceId}' is already running.`;
    this.#sendControl(parent.OrchestrationInstance.InstanceId, parent.OrchestrationInstance.ExecutionId, {
      EventType: EventType.SubOrchestrationInstanceFailed,
      EventId: -1,
      IsPlayed: false,
      Timestamp: this.#ctx.now().toISOString(),
      TaskScheduledId: parent.TaskScheduleId,
      Reason: text,
      Details: text,
      FailureDetails: { ErrorType: 'OrchestrationAlreadyExistsException', ErrorMessage: text },
    });
  }

  /**
   * A child created again by the same parent task keeps running as it is; if it already ended,
   * its outcome goes to the parent again, since the parent may have dropped the first one as
   * belonging to no task it had committed yet.
   */
  #answerRecreate(message: ControlMessage): void {
    const record = this.#state!.record;
    const failure = record.status === 'Failed' ? record.failureDetails : undefined;
    const ended = record.status === 'Completed' || failure !== undefined;
    this.#ctx.log.debug(
      `instance ${message.instanceId}: its parent created it again after a restart; ${ended ? 'sending its outcome again' : 'nothing to do'}`,
    );
    if (record.status === 'Completed') this.#notifyParentCompleted(record, this.#ctx.now());
    else if (failure)
      this.#notifyParentFailed(record, failure.StackTrace ?? failure.ErrorMessage, failure, this.#ctx.now());
  }

  #terminate(message: ControlMessage): void {
    const state = this.#state!;
    const now = this.#ctx.now().toISOString();
    const reason = message.event.Input ?? null;
    state.append({ ...message.event, EventId: -1, IsPlayed: false, Timestamp: now, MessageId: message.id });
    state.record.status = 'Terminated';
    state.record.output = reason;
    state.record.lastUpdatedTime = now;
    state.record.completedTime = now;
    state.buffered = [];
    this.#changed = true;
  }

  #suspend(message: ControlMessage): void {
    const state = this.#state!;
    const now = this.#ctx.now().toISOString();
    state.append({ ...message.event, EventId: -1, IsPlayed: true, Timestamp: now, MessageId: message.id });
    state.record.status = 'Suspended';
    state.record.lastUpdatedTime = now;
    this.#changed = true;
  }

  #resume(message: ControlMessage): ControlMessage[] {
    const state = this.#state!;
    const now = this.#ctx.now().toISOString();
    state.append({ ...message.event, EventId: -1, IsPlayed: true, Timestamp: now, MessageId: message.id });
    state.record.status = 'Running';
    state.record.lastUpdatedTime = now;
    const released = state.buffered.map((b) => ({
      id: b.messageId,
      instanceId: state.record.instanceId,
      ...(b.executionId ? { executionId: b.executionId } : {}),
      event: b.event,
    }));
    state.buffered = [];
    this.#changed = true;
    return released;
  }

  async #episode(messages: ControlMessage[]): Promise<void> {
    const state = this.#state!;
    if (TERMINAL_STATUSES.has(state.record.status) || state.record.status === 'ContinuedAsNew') {
      this.#consumed.push(...messages.map((m) => m.id));
      return;
    }
    const now = this.#ctx.now();
    const nowText = now.toISOString();
    const firstNew = state.history.length;
    state.append({
      EventType: EventType.OrchestratorStarted,
      EventId: -1,
      IsPlayed: false,
      Timestamp: nowText,
    });
    for (const message of messages) {
      const event: HistoryEvent = { ...message.event, IsPlayed: false, MessageId: message.id };
      if (event.EventType === EventType.ExecutionStarted) event.Timestamp = nowText;
      const task = (() => {
        const target = completionTarget(event);
        return target === undefined ? undefined : state.scheduled.get(target);
      })();
      const allocating = task !== undefined && this.#isAllocating(event, task);
      state.append(event);
      if (allocating) this.#decideRetry(event, task, now);
    }
    this.#consumed.push(...messages.map((m) => m.id));
    this.#changed = true;

    const record = state.record;
    const outcome = await this.#ctx.runOrchestrator({
      name: record.name,
      instanceId: record.instanceId,
      history: state.history,
      input: parseJsonText(record.input),
      ...(record.parent ? { parentInstanceId: record.parent.OrchestrationInstance.InstanceId } : {}),
    });
    for (let i = firstNew; i < state.history.length; i++) state.history[i]!.IsPlayed = true;

    if (outcome.customStatus !== undefined) {
      record.customStatus = outcome.customStatus === null ? null : JSON.stringify(outcome.customStatus);
    }
    if (outcome.kind === 'failed') {
      this.#fail(outcome.message, outcome.failureDetails, now);
    } else {
      this.#applyActions(outcome, now);
    }
    state.append({
      EventType: EventType.OrchestratorCompleted,
      EventId: -1,
      IsPlayed: true,
      Timestamp: nowText,
    });
    record.lastUpdatedTime = nowText;
  }

  #decideRetry(event: HistoryEvent, task: ScheduledTask, now: Date): void {
    const state = this.#state!;
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
        // A child id the orchestrator chose is kept; a generated one follows the new task id.
        const generated = `${state.record.instanceId}:${root.eventId}`;
        const childId =
          root.subInstanceId && root.subInstanceId !== generated
            ? root.subInstanceId
            : `${state.record.instanceId}:${id}`;
        state.append({
          EventType: EventType.SubOrchestrationInstanceCreated,
          EventId: id,
          IsPlayed: false,
          Timestamp: now.toISOString(),
          Name: root.name ?? '',
          Input: root.input ?? null,
          InstanceId: childId,
          RetryOf: rootId,
          Attempt: attempt,
          ...(root.version ? { Version: root.version } : {}),
        });
        if (timedOut && timer) this.#failNow(EventType.SubOrchestrationInstanceFailed, id, timer, now);
        else this.#startChild(childId, root.name ?? '', root.version ?? '', root.input ?? null, id, now);
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
        if (timedOut && timer) this.#failNow(EventType.TaskFailed, id, timer, now);
        else this.#sendActivity(root.name ?? '', root.input ?? null, id, attempt);
      }
      return;
    }

    // An attempt failed: the SDK now waits on a timer before it retries or gives up. After the
    // last attempt (or past the retry timeout) that timer fires at once; it only carries the SDK
    // to the failure it would report anyway.
    const last = task.attempt >= policy.maxNumberOfAttempts;
    const delay = last || timedOut ? 0 : retryDelayMs(policy, task.attempt);
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
    this.#sendTimer(id, fireAt);
  }

  /** Fails a retry attempt without running it (the retry timeout passed), repeating the last failure. */
  #failNow(
    type: typeof EventType.TaskFailed | typeof EventType.SubOrchestrationInstanceFailed,
    id: number,
    lastFailure: HistoryEvent,
    now: Date,
  ): void {
    const state = this.#state!;
    this.#sendControl(state.record.instanceId, state.record.executionId, {
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

  #applyActions(outcome: Extract<OrchestratorOutcome, { kind: 'ran' }>, now: Date): void {
    const state = this.#state!;
    const record = state.record;
    const flat = flattenActions(outcome.actions);
    const unsupported = flat.find((a) => UNSUPPORTED_ACTIONS[a.actionType] !== undefined);
    if (unsupported) {
      const what = UNSUPPORTED_ACTIONS[unsupported.actionType]!;
      const message = `The embedded runtime does not support ${what}; see infra/local/README.md.`;
      this.#fail(message, { ErrorType: 'NotSupportedException', ErrorMessage: message }, now);
      return;
    }
    const consuming = flat.filter(consumesId);
    const known = state.actionEvents.length;
    for (let i = 0; i < Math.min(known, consuming.length); i++) {
      const mismatch = this.#mismatch(consuming[i]!, state.actionEvents[i]!);
      if (mismatch) {
        const message =
          `Non-deterministic workflow detected: ${mismatch}. Orchestrator code must make the same calls, ` +
          'in the same order, every time it replays.';
        this.#fail(
          message,
          { ErrorType: 'NonDeterministicOrchestrationException', ErrorMessage: message },
          now,
        );
        return;
      }
    }
    for (const action of consuming.slice(known)) this.#schedule(action, now);

    const continueAsNew = flat.find((a) => a.actionType === Action.ContinueAsNew);
    if (continueAsNew) {
      const input = processedInputText(continueAsNew.input);
      state.append({
        EventType: EventType.ExecutionCompleted,
        EventId: -1,
        IsPlayed: true,
        Timestamp: now.toISOString(),
        OrchestrationStatus: OrchestrationStatusCode.ContinuedAsNew,
        Result: input,
      });
      record.status = 'ContinuedAsNew';
      record.output = input;
      this.#sendControl(record.instanceId, undefined, {
        EventType: EventType.ExecutionStarted,
        EventId: -1,
        IsPlayed: false,
        Timestamp: now.toISOString(),
        Name: record.name,
        Version: record.version,
        Input: input,
        OrchestrationInstance: {
          InstanceId: record.instanceId,
          ExecutionId: continuationExecutionId(record.executionId),
        },
        ...(record.parent ? { ParentInstance: record.parent } : {}),
      });
      return;
    }
    if (!outcome.isDone) return;

    const result = JSON.stringify(outcome.output ?? null);
    state.append({
      EventType: EventType.ExecutionCompleted,
      EventId: -1,
      IsPlayed: true,
      Timestamp: now.toISOString(),
      OrchestrationStatus: OrchestrationStatusCode.Completed,
      Result: result,
    });
    record.status = 'Completed';
    record.output = result;
    record.completedTime = now.toISOString();
    this.#notifyParentCompleted(record, now);
  }

  #notifyParentCompleted(record: InstanceRecord, now: Date): void {
    this.#notifyParent(record, now, {
      EventType: EventType.SubOrchestrationInstanceCompleted,
      Result: record.output,
    });
  }

  #notifyParentFailed(
    record: InstanceRecord,
    details: string,
    failureDetails: FailureDetails,
    now: Date,
  ): void {
    this.#notifyParent(record, now, {
      EventType: EventType.SubOrchestrationInstanceFailed,
      Reason: String(parseJsonText(record.output)),
      Details: details,
      FailureDetails: failureDetails,
    });
  }

  #notifyParent(
    record: InstanceRecord,
    now: Date,
    outcome: Pick<HistoryEvent, 'EventType'> & Partial<HistoryEvent>,
  ): void {
    const parent = record.parent;
    if (!parent) return;
    this.#sendControl(parent.OrchestrationInstance.InstanceId, parent.OrchestrationInstance.ExecutionId, {
      EventId: -1,
      IsPlayed: false,
      Timestamp: now.toISOString(),
      TaskScheduledId: parent.TaskScheduleId,
      ...outcome,
    });
  }

  #mismatch(action: SdkAction, event: HistoryEvent): string | undefined {
    const expected =
      event.EventType === EventType.TaskScheduled
        ? 'activity'
        : event.EventType === EventType.TimerCreated
          ? 'timer'
          : event.EventType === EventType.SubOrchestrationInstanceCreated
            ? 'sub-orchestration'
            : 'event';
    const actual =
      action.actionType === Action.CallActivity || action.actionType === Action.CallActivityWithRetry
        ? 'activity'
        : action.actionType === Action.CreateTimer
          ? 'timer'
          : action.actionType === Action.CallSubOrchestrator ||
              action.actionType === Action.CallSubOrchestratorWithRetry
            ? 'sub-orchestration'
            : 'event';
    if (expected !== actual) return `task ${event.EventId} was a ${expected} and is now a ${actual}`;
    if (actual !== 'timer' && event.Name !== undefined && action.functionName !== event.Name) {
      return `task ${event.EventId} called "${event.Name}" and now calls "${action.functionName}"`;
    }
    return undefined;
  }

  #schedule(action: SdkAction, now: Date): void {
    const state = this.#state!;
    const id = state.nextEventId;
    const timestamp = now.toISOString();
    const retry =
      action.actionType === Action.CallActivityWithRetry ||
      action.actionType === Action.CallSubOrchestratorWithRetry
        ? normalizeRetry(action.retryOptions)
        : undefined;
    switch (action.actionType) {
      case Action.CallActivity:
      case Action.CallActivityWithRetry: {
        const input = processedInputText(action.input);
        state.append({
          EventType: EventType.TaskScheduled,
          EventId: id,
          IsPlayed: false,
          Timestamp: timestamp,
          Name: action.functionName ?? '',
          Input: input,
          Attempt: 1,
          ...(retry ? { RetryOptions: retry, FirstAttemptAt: timestamp } : {}),
        });
        this.#sendActivity(action.functionName ?? '', input, id, 1);
        return;
      }
      case Action.CallSubOrchestrator:
      case Action.CallSubOrchestratorWithRetry: {
        const input = rawInputText(action.input);
        const childId = action.instanceId || `${state.record.instanceId}:${id}`;
        state.append({
          EventType: EventType.SubOrchestrationInstanceCreated,
          EventId: id,
          IsPlayed: false,
          Timestamp: timestamp,
          Name: action.functionName ?? '',
          Input: input,
          InstanceId: childId,
          Attempt: 1,
          ...(action.version ? { Version: action.version } : {}),
          ...(retry ? { RetryOptions: retry, FirstAttemptAt: timestamp } : {}),
        });
        this.#startChild(childId, action.functionName ?? '', action.version ?? '', input, id, now);
        return;
      }
      case Action.CreateTimer: {
        const fireAt = new Date(action.fireAt ?? now);
        state.append({
          EventType: EventType.TimerCreated,
          EventId: id,
          IsPlayed: false,
          Timestamp: timestamp,
          FireAt: fireAt.toISOString(),
        });
        if (!action.isCanceled) this.#sendTimer(id, fireAt);
        return;
      }
      default:
        return;
    }
  }

  #fail(message: string, failureDetails: FailureDetails, now: Date): void {
    const state = this.#state!;
    const record = state.record;
    state.append({
      EventType: EventType.ExecutionCompleted,
      EventId: -1,
      IsPlayed: true,
      Timestamp: now.toISOString(),
      OrchestrationStatus: OrchestrationStatusCode.Failed,
      Result: JSON.stringify(message),
      FailureDetails: failureDetails,
    });
    record.status = 'Failed';
    record.output = failedOutput(record.name, message);
    record.failureDetails = failureDetails;
    record.completedTime = now.toISOString();
    this.#notifyParentFailed(record, failureDetails.StackTrace ?? message, failureDetails, now);
  }

  #sendActivity(name: string, input: string | null, taskScheduledId: number, attempt: number): void {
    const record = this.#state!.record;
    this.#outbound.push({
      kind: 'activity',
      item: {
        id: this.#ctx.newId(),
        instanceId: record.instanceId,
        executionId: record.executionId,
        name,
        taskScheduledId,
        input,
        attempt,
      },
    });
  }

  #sendTimer(timerId: number, fireAt: Date): void {
    const record = this.#state!.record;
    this.#outbound.push({
      kind: 'control',
      visibleAt: fireAt.getTime(),
      message: {
        id: this.#ctx.newId(),
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

  #startChild(
    childId: string,
    name: string,
    version: string,
    input: string | null,
    taskId: number,
    now: Date,
  ): void {
    const record = this.#state!.record;
    this.#sendControl(childId, undefined, {
      EventType: EventType.ExecutionStarted,
      EventId: -1,
      IsPlayed: false,
      Timestamp: now.toISOString(),
      Name: name,
      Version: version,
      Input: input,
      OrchestrationInstance: { InstanceId: childId, ExecutionId: this.#ctx.newId() },
      ParentInstance: {
        Name: record.name,
        OrchestrationInstance: { InstanceId: record.instanceId, ExecutionId: record.executionId },
        TaskScheduleId: taskId,
      },
    });
  }

  #sendControl(instanceId: string, executionId: string | undefined, event: HistoryEvent): void {
    this.#outbound.push({
      kind: 'control',
      message: { id: this.#ctx.newId(), instanceId, ...(executionId ? { executionId } : {}), event },
    });
  }
}

function normalizeRetry(options: RetryPolicy | undefined): RetryPolicy {
  const first = Number(options?.firstRetryIntervalInMilliseconds ?? 1000);
  const attempts = Number(options?.maxNumberOfAttempts ?? 1);
  return {
    firstRetryIntervalInMilliseconds: first > 0 ? first : 1000,
    maxNumberOfAttempts: attempts >= 1 ? Math.floor(attempts) : 1,
    ...(options?.backoffCoefficient !== undefined
      ? { backoffCoefficient: Number(options.backoffCoefficient) }
      : {}),
    ...(options?.maxRetryIntervalInMilliseconds !== undefined
      ? { maxRetryIntervalInMilliseconds: Number(options.maxRetryIntervalInMilliseconds) }
      : {}),
    ...(options?.retryTimeoutInMilliseconds !== undefined
      ? { retryTimeoutInMilliseconds: Number(options.retryTimeoutInMilliseconds) }
      : {}),
  };
}

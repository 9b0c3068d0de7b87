import { BUILTIN_HTTP_ACTIVITY, decideHttpPoll, sendHttpPoll, startsHttpPoll } from './durableHttp.js';
import type { ComponentLogger } from '../host/logger.js';
import {
  EventType,
  OrchestrationStatusCode,
  TERMINAL_STATUSES,
  type FailureDetails,
  type HistoryEvent,
} from './history.js';
import { classifyMessage, continuationExecutionId, isAllocating } from './messageClassifier.js';
import type { ControlMessage, Outbound } from './messages.js';
import { Outbox } from './outbox.js';
import { decideRetry } from './retries.js';
import {
  Action,
  actionMismatch,
  consumesId,
  expandReleases,
  flattenActions,
  normalizeRetry,
  parseJsonText,
  processedInputText,
  rawInputText,
  type SdkAction,
} from './sdkActions.js';
import { missingEntityFunction, parseEntityInstanceId } from './entities.js';
import { releaseHeldLocks, sendToEntity } from './entitySends.js';
import { completionTarget, failedOutput, OrchestrationState, type InstanceRecord } from './state.js';

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
  /** Whether the app has an entity function of this name (the extension checks before sending). */
  hasEntity(name: string): boolean;
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
  readonly #outbox: Outbox;
  readonly #consumed: string[] = [];
  readonly #deferred: string[] = [];
  #changed = false;

  constructor(state: OrchestrationState | undefined, ctx: EpisodeContext, knownPending: boolean) {
    this.#state = state;
    this.#ctx = ctx;
    this.#knownPending = knownPending;
    this.#outbox = new Outbox(
      () => ctx.newId(),
      () => this.#state!.record,
    );
  }

  async process(messages: ControlMessage[]): Promise<SessionResult> {
    // A start that arrives in the same batch as events for the instance goes first.
    const queue = [...messages].sort(
      (a, b) =>
        Number(b.event.EventType === EventType.ExecutionStarted) -
        Number(a.event.EventType === EventType.ExecutionStarted),
    );
    let segment: ControlMessage[] = [];
    // What the episode being gathered already holds: a second completion of a task in it is a duplicate.
    const seen = { targets: new Set<number>(), ids: new Set<string>() };

    const flush = async () => {
      if (segment.length === 0) return;
      const batch = segment;
      segment = [];
      seen.targets.clear();
      await this.#episode(batch);
    };

    while (queue.length > 0) {
      const message = queue.shift()!;
      const kind = classifyMessage(this.#state, message, seen, {
        knownPending: this.#knownPending,
        log: this.#ctx.log,
      });
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
          noteSeen(message, seen);
          break;
        case 'apply':
          segment.push(message);
          noteSeen(message, seen);
          break;
      }
    }
    await flush();
    return {
      state: this.#state,
      outbound: this.#outbox.messages,
      consumed: this.#consumed,
      deferred: this.#deferred,
      changed: this.#changed,
    };
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
    this.#outbox.control(parent.OrchestrationInstance.InstanceId, parent.OrchestrationInstance.ExecutionId, {
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
    if (record.status === 'Completed') this.#outbox.parentCompleted(record, this.#ctx.now());
    else if (failure)
      this.#outbox.parentFailed(record, failure.StackTrace ?? failure.ErrorMessage, failure, this.#ctx.now());
  }

  #terminate(message: ControlMessage): void {
    const state = this.#state!;
    const now = this.#ctx.now().toISOString();
    const reason = message.event.Input ?? null;
    state.append({ ...message.event, EventId: -1, IsPlayed: false, Timestamp: now, MessageId: message.id });
    releaseHeldLocks(state, this.#outbox, new Date(now));
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
      const allocating = task !== undefined && isAllocating(event, task);
      state.append(event);
      if (allocating && startsHttpPoll(event, task)) decideHttpPoll(state, this.#outbox, event, task, now);
      else if (allocating) decideRetry(state, this.#outbox, event, task, now);
      if (event.EventType === EventType.TimerFired && task?.pollTask !== undefined) {
        sendHttpPoll(state, this.#outbox, task);
      }
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

  #applyActions(outcome: Extract<OrchestratorOutcome, { kind: 'ran' }>, now: Date): void {
    const state = this.#state!;
    const record = state.record;
    const flat = flattenActions(outcome.actions);
    const consuming = expandReleases(flat).filter(consumesId);
    const known = state.actionEvents.length;
    for (let i = 0; i < Math.min(known, consuming.length); i++) {
      const mismatch = actionMismatch(consuming[i]!, state.actionEvents[i]!);
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
    const fresh = consuming.slice(known);
    const missing = fresh
      .flatMap((a) =>
        a.actionType === Action.CallEntity || a.actionType === Action.SignalEntity
          ? [parseEntityInstanceId(a.instanceId ?? '')?.name ?? String(a.instanceId)]
          : a.actionType === Action.LockEntities
            ? (a.lockSet ?? []).map((e) => e.name)
            : [],
      )
      .find((name) => !this.#ctx.hasEntity(name));
    if (missing !== undefined) {
      const message = missingEntityFunction(missing);
      this.#fail(message, { ErrorType: 'ArgumentException', ErrorMessage: message }, now);
      return;
    }
    for (const action of fresh) this.#schedule(action, now);

    const continueAsNew = flat.find((a) => a.actionType === Action.ContinueAsNew);
    if (continueAsNew) {
      const input = processedInputText(continueAsNew.input);
      this.#endExecution('ContinuedAsNew', input, now);
      this.#outbox.control(record.instanceId, undefined, {
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

    this.#endExecution('Completed', JSON.stringify(outcome.output ?? null), now);
    record.completedTime = now.toISOString();
    this.#outbox.parentCompleted(record, now);
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
        this.#outbox.activity(action.functionName ?? '', input, id, 1);
        return;
      }
      case Action.CallHttp: {
        // The extension's built-in HTTP activity; the SDK polls a 202 itself with timers and calls.
        const input = JSON.stringify(action.httpRequest ?? null);
        state.append({
          EventType: EventType.TaskScheduled,
          EventId: id,
          IsPlayed: false,
          Timestamp: timestamp,
          Name: BUILTIN_HTTP_ACTIVITY,
          Input: input,
          Attempt: 1,
        });
        this.#outbox.activity(BUILTIN_HTTP_ACTIVITY, input, id, 1);
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
          ...(action.instanceId ? { InstanceIdChosen: true } : {}),
          Attempt: 1,
          ...(action.version ? { Version: action.version } : {}),
          ...(retry ? { RetryOptions: retry, FirstAttemptAt: timestamp } : {}),
        });
        this.#outbox.startChild(childId, action.functionName ?? '', action.version ?? '', input, id, now);
        return;
      }
      case Action.CallEntity:
      case Action.SignalEntity:
      case Action.LockEntities:
      case Action.ReleaseEntities:
        sendToEntity(state, this.#outbox, action, id, now);
        return;
      case Action.CreateTimer: {
        const fireAt = new Date(action.fireAt ?? now);
        state.append({
          EventType: EventType.TimerCreated,
          EventId: id,
          IsPlayed: false,
          Timestamp: timestamp,
          FireAt: fireAt.toISOString(),
        });
        if (!action.isCanceled) this.#outbox.timer(id, fireAt);
        return;
      }
      default:
        return;
    }
  }

  /** Appends the execution's end to its history and records the status and output it ended with. */
  #endExecution(
    status: 'Completed' | 'ContinuedAsNew' | 'Failed',
    result: string | null,
    now: Date,
    failureDetails?: FailureDetails,
  ): void {
    const state = this.#state!;
    releaseHeldLocks(state, this.#outbox, now);
    state.append({
      EventType: EventType.ExecutionCompleted,
      EventId: -1,
      IsPlayed: true,
      Timestamp: now.toISOString(),
      OrchestrationStatus: OrchestrationStatusCode[status],
      Result: result,
      ...(failureDetails ? { FailureDetails: failureDetails } : {}),
    });
    state.record.status = status;
    state.record.output = result;
  }

  #fail(message: string, failureDetails: FailureDetails, now: Date): void {
    const state = this.#state!;
    const record = state.record;
    this.#endExecution('Failed', JSON.stringify(message), now, failureDetails);
    record.output = failedOutput(record.name, message);
    record.failureDetails = failureDetails;
    record.completedTime = now.toISOString();
    this.#outbox.parentFailed(record, failureDetails.StackTrace ?? message, failureDetails, now);
  }
}

function noteSeen(message: ControlMessage, seen: { targets: Set<number>; ids: Set<string> }): void {
  seen.ids.add(message.id);
  const target = completionTarget(message.event);
  if (target !== undefined) seen.targets.add(target);
}

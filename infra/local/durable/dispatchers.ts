import { randomUUID } from 'node:crypto';
import type { FunctionHost, RegisteredFunction } from '../host/functionHost.js';
import type { ComponentLogger } from '../host/logger.js';
import type { LeaseKeeper, QueueMessage, WorkQueue } from '../storage/workQueue.js';
import { drain, Poller } from '../util/poller.js';
import {
  OrchestrationSession,
  type ActivityWorkItem,
  type ControlMessage,
  type OrchestratorInvocation,
  type OrchestratorOutcome,
  type Outbound,
} from './episode.js';
import { EventType, TERMINAL_STATUSES, type FailureDetails } from './history.js';
import { partitionOf } from './messages.js';
import type { OrchestrationState } from './state.js';
import { ConcurrencyError, type TaskHubStore } from './taskHubStore.js';

const OUT_OF_PROC_LABEL = '\n\n$OutOfProcData$:';

function findFunction(host: FunctionHost, triggerType: string, name: string): RegisteredFunction | undefined {
  const wanted = name.toLowerCase();
  return host.byTrigger(triggerType).find((fn) => fn.name.toLowerCase() === wanted);
}

function failureFromError(error: unknown): FailureDetails {
  if (error instanceof Error) {
    return {
      ErrorType: error.name || 'Error',
      ErrorMessage: error.message,
      ...(error.stack ? { StackTrace: error.stack } : {}),
    };
  }
  return { ErrorType: 'Error', ErrorMessage: String(error) };
}

/**
 * Runs an orchestrator function once over a history, through the app's own registration (which
 * wraps the handler in durable-functions' Orchestrator), and reads back its state or failure.
 */
export async function runOrchestrator(
  host: FunctionHost,
  invocation: OrchestratorInvocation,
): Promise<OrchestratorOutcome> {
  const fn = findFunction(host, 'orchestrationTrigger', invocation.name);
  if (!fn) {
    const message = `The function '${invocation.name}' doesn't exist, is disabled, or is not an orchestrator function.`;
    return {
      kind: 'failed',
      message,
      failureDetails: { ErrorType: 'FunctionNotFound', ErrorMessage: message },
      customStatus: undefined,
    };
  }
  const replays = invocation.history.filter((e) => e.EventType === EventType.OrchestratorStarted).length > 1;
  const bindingInfo = {
    history: invocation.history,
    input: invocation.input,
    instanceId: invocation.instanceId,
    isReplaying: replays,
    parentInstanceId: invocation.parentInstanceId,
    // Replay schema V3: the SDK splits long timers itself and expects these durations.
    upperSchemaVersion: 2,
    upperSchemaVersionNew: 2,
    maximumShortTimerDuration: '6.00:00:00',
    longRunningTimerIntervalDuration: '3.00:00:00',
    defaultHttpAsyncRequestSleepTimeMillseconds: 30_000,
  };
  const outcome = await host.invoke(fn, { trigger: { string: JSON.stringify(bindingInfo) } });
  if (outcome.failed) {
    const error = outcome.error;
    const text = error instanceof Error ? error.message : String(error);
    const cut = text.indexOf(OUT_OF_PROC_LABEL);
    if (cut >= 0) {
      const state = JSON.parse(text.slice(cut + OUT_OF_PROC_LABEL.length)) as {
        error?: string;
        customStatus?: unknown;
        failureDetails?: FailureDetails;
      };
      // The SDK builds this error from a flag rather than the exception, so the exception's own
      // message is the state's `error`, not the text before the label.
      const message = state.error ?? text.slice(0, cut);
      const stack = error instanceof Error ? error.stack : undefined;
      const typeMatch = stack ? /^([A-Za-z_$][\w$]*):/.exec(stack) : null;
      return {
        kind: 'failed',
        message,
        failureDetails: state.failureDetails ?? {
          ErrorType: typeMatch?.[1] ?? 'Error',
          ErrorMessage: message,
          ...(stack ? { StackTrace: stack } : {}),
        },
        customStatus: state.customStatus,
      };
    }
    return {
      kind: 'failed',
      message: text,
      failureDetails: failureFromError(error),
      customStatus: undefined,
    };
  }
  const result = outcome.result as
    { isDone?: unknown; actions?: unknown; output?: unknown; customStatus?: unknown } | undefined;
  if (!result || typeof result.isDone !== 'boolean' || !Array.isArray(result.actions)) {
    const message = `Orchestrator '${fn.name}' did not return an orchestration state; is it registered with df.app.orchestration?`;
    return {
      kind: 'failed',
      message,
      failureDetails: { ErrorType: 'Error', ErrorMessage: message },
      customStatus: undefined,
    };
  }
  return {
    kind: 'ran',
    isDone: result.isDone,
    actions: result.actions,
    output: result.output,
    customStatus: result.customStatus,
  };
}

interface Session {
  instanceId: string;
  inbox: QueueMessage<ControlMessage>[];
  running: boolean;
  deferrals: number;
}

export interface OrchestrationDispatcherOptions {
  host: FunctionHost;
  store: TaskHubStore;
  control: WorkQueue<ControlMessage>[];
  leases: LeaseKeeper;
  maxConcurrent: number;
  batchSize: number;
  maxPollIntervalMs: number;
  logger: ComponentLogger;
  sendActivity: (item: ActivityWorkItem) => Promise<void>;
}

/**
 * Reads control queues, keeps one session per instance so an instance never runs twice at once,
 * and commits each session's work in the order that makes a crash at any point recoverable:
 * outbound messages, then history, then deleting what was consumed.
 */
export class OrchestrationDispatcher {
  readonly #options: OrchestrationDispatcherOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #ready: Session[] = [];
  readonly #held = new Map<string, QueueMessage<ControlMessage>>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #cache = new Map<string, { state: OrchestrationState | undefined; pending: boolean }>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #pollers: Poller[];
  #running = 0;
  #stopped = false;

  constructor(options: OrchestrationDispatcherOptions) {
    this.#options = options;
    this.#pollers = options.control.map(
      (queue, index) =>
        new Poller({
          name: queue.name,
          logger: options.logger,
          maxIntervalMs: options.maxPollIntervalMs,
          poll: async () => {
            // Back-pressure: while a lot is held in memory, leave the rest in the queue.
            if (this.#held.size >= options.batchSize * 8) return 0;
            const messages = await queue.receive(options.batchSize);
            for (const message of messages) this.#accept(index, message);
            return messages.length;
          },
        }),
    );
  }

  start(): void {
    this.#stopped = false;
    for (const poller of this.#pollers) poller.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#pollers.map((p) => p.stop()));
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await drain(this.#inFlight);
    // Hand what is still held back to the queue, due when it was due, so a restart need not wait
    // for leases to lapse.
    const now = Date.now();
    await Promise.all(
      [...this.#held.values()].map((message) =>
        this.#settle(message, { delayMs: Math.max(0, (message.dueAt ?? now) - now) }).catch(() => undefined),
      ),
    );
  }

  /** Forgets a cached instance (after a purge, or when storage may have changed under it). */
  evict(instanceId: string): void {
    this.#cache.delete(instanceId);
  }

  /**
   * Sends a control message, held for local delivery (at `visibleAt` for timers). If this process
   * dies before delivering it, the queue delivers it once the lease runs out.
   */
  async sendControl(message: ControlMessage, visibleAt?: number): Promise<void> {
    const partition = partitionOf(message.instanceId, this.#options.control.length);
    const queue = this.#options.control[partition]!;
    const delayMs = visibleAt === undefined ? 0 : Math.max(0, visibleAt - Date.now());
    const sent = await queue.send(message, { delayMs, hold: true });
    if (this.#stopped) return;
    if (delayMs <= 0) {
      this.#accept(partition, sent);
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#stopped) this.#accept(partition, sent);
    }, delayMs);
    this.#timers.add(timer);
  }

  #accept(partition: number, message: QueueMessage<ControlMessage>): void {
    const existing = this.#held.get(message.messageId);
    if (existing) {
      // The same queue message again (its lease lapsed while held): keep the newest receipt.
      existing.popReceipt = message.popReceipt;
      existing.leaseUntil = message.leaseUntil;
      return;
    }
    this.#held.set(message.messageId, message);
    this.#options.leases.hold(this.#options.control[partition]!, message);
    const instanceId = message.body.instanceId;
    let session = this.#sessions.get(instanceId);
    if (!session) {
      session = { instanceId, inbox: [], running: false, deferrals: 0 };
      this.#sessions.set(instanceId, session);
    }
    session.inbox.push(message);
    if (!session.running && !this.#ready.includes(session)) this.#ready.push(session);
    this.#pump();
  }

  #pump(): void {
    while (this.#running < this.#options.maxConcurrent && this.#ready.length > 0) {
      const session = this.#ready.shift()!;
      if (session.running || session.inbox.length === 0) continue;
      session.running = true;
      this.#running++;
      const work = this.#runSession(session).finally(() => {
        this.#inFlight.delete(work);
        session.running = false;
        this.#running--;
        if (session.inbox.length > 0) this.#ready.push(session);
        else this.#sessions.delete(session.instanceId);
        this.#pump();
      });
      this.#inFlight.add(work);
    }
  }

  #queueFor(message: QueueMessage<ControlMessage>): WorkQueue<ControlMessage> {
    return this.#options.control[partitionOf(message.body.instanceId, this.#options.control.length)]!;
  }

  async #settle(message: QueueMessage<ControlMessage>, how: 'complete' | { delayMs: number }): Promise<void> {
    const queue = this.#queueFor(message);
    this.#options.leases.release(message);
    try {
      if (how === 'complete') await queue.complete(message);
      else await queue.abandon(message, how.delayMs);
    } finally {
      this.#held.delete(message.messageId);
    }
  }

  async #runSession(session: Session): Promise<void> {
    const { store, logger } = this.#options;
    while (session.inbox.length > 0 && !this.#stopped) {
      const batch = session.inbox.splice(0);
      try {
        let cached = this.#cache.get(session.instanceId);
        if (!cached) {
          cached = await store.load(session.instanceId);
        }
        const orchestration = new OrchestrationSession(
          cached.state,
          {
            now: () => new Date(),
            newId: () => randomUUID(),
            runOrchestrator: (invocation) => runOrchestrator(this.#options.host, invocation),
            log: logger,
          },
          cached.pending,
        );
        const result = await orchestration.process(batch.map((m) => m.body));
        await Promise.all(result.outbound.map((out) => this.#send(out)));
        if (result.changed && result.state) await store.commit(result.state);
        const state = result.state;
        if (state && !TERMINAL_STATUSES.has(state.record.status)) {
          this.#cache.set(session.instanceId, { state, pending: false });
        } else {
          this.#cache.delete(session.instanceId);
        }
        if (state && result.changed) this.#logTransition(state);
        // Everything not deferred has been applied (and committed) or found to be a duplicate.
        const deferred = new Set(result.deferred);
        session.deferrals = deferred.size > 0 ? session.deferrals + 1 : 0;
        const delayMs = Math.min(10_000, 500 * 2 ** Math.min(session.deferrals, 5));
        await Promise.all(
          batch.map((message) =>
            this.#settle(message, deferred.has(message.body.id) ? { delayMs } : 'complete'),
          ),
        );
      } catch (error) {
        this.#cache.delete(session.instanceId);
        const conflict = error instanceof ConcurrencyError;
        logger.error(
          `instance ${session.instanceId}: ${conflict ? 'conflicting write' : 'episode failed'}; retrying`,
          error,
        );
        await Promise.all(batch.map((m) => this.#settle(m, { delayMs: 1000 }).catch(() => undefined)));
      }
    }
    // On shutdown, what is left in the inbox stays held; stop() hands it back to the queue.
    session.inbox.length = 0;
  }

  #logTransition(state: OrchestrationState): void {
    const record = state.record;
    if (record.status === 'Running') return;
    const detail = record.status === 'Failed' ? `: ${record.failureDetails?.ErrorMessage ?? ''}` : '';
    this.#options.logger.parent.log({
      level: record.status === 'Failed' ? 'warning' : 'debug',
      source: 'durable',
      message: `orchestration ${record.name} (${record.instanceId}) is ${record.status}${detail}`,
    });
  }

  async #send(out: Outbound): Promise<void> {
    if (out.kind === 'activity') await this.#options.sendActivity(out.item);
    else await this.sendControl(out.message, out.visibleAt);
  }
}

export interface ActivityDispatcherOptions {
  host: FunctionHost;
  queue: WorkQueue<ActivityWorkItem>;
  leases: LeaseKeeper;
  maxConcurrent: number;
  maxPollIntervalMs: number;
  logger: ComponentLogger;
  sendControl: (message: ControlMessage) => Promise<void>;
}

/** Runs activities from the work-item queue, at most `maxConcurrent` at a time. */
export class ActivityDispatcher {
  readonly #options: ActivityDispatcherOptions;
  readonly #backlog: QueueMessage<ActivityWorkItem>[] = [];
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #poller: Poller;
  #running = 0;
  #stopped = false;

  constructor(options: ActivityDispatcherOptions) {
    this.#options = options;
    this.#poller = new Poller({
      name: options.queue.name,
      logger: options.logger,
      maxIntervalMs: options.maxPollIntervalMs,
      poll: async () => {
        const free = options.maxConcurrent - this.#running - this.#backlog.length;
        if (free <= 0) return 0;
        const messages = await options.queue.receive(free);
        for (const message of messages) this.#enqueue(message);
        return messages.length;
      },
    });
  }

  start(): void {
    this.#stopped = false;
    this.#poller.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#poller.stop();
    const unstarted = this.#backlog.splice(0);
    for (const message of unstarted) this.#options.leases.release(message);
    await drain(this.#inFlight);
    await Promise.all(
      unstarted.map((message) => this.#options.queue.abandon(message, 0).catch(() => undefined)),
    );
  }

  /**
   * Schedules an activity. While the local backlog is short the work item is held and run here
   * directly; past that it is left visible in the queue, to be received when there is room.
   */
  async send(item: ActivityWorkItem): Promise<void> {
    const hold = !this.#stopped && this.#backlog.length < this.#options.maxConcurrent * 4;
    const sent = await this.#options.queue.send(item, { hold });
    if (hold && !this.#stopped) this.#enqueue(sent);
  }

  #enqueue(message: QueueMessage<ActivityWorkItem>): void {
    this.#options.leases.hold(this.#options.queue, message);
    this.#backlog.push(message);
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#running < this.#options.maxConcurrent && this.#backlog.length > 0) {
      const message = this.#backlog.shift()!;
      this.#running++;
      const work = this.#run(message).finally(() => {
        this.#inFlight.delete(work);
        this.#running--;
        this.#pump();
        if (this.#backlog.length === 0) this.#poller.wake();
      });
      this.#inFlight.add(work);
    }
  }

  async #run(message: QueueMessage<ActivityWorkItem>): Promise<void> {
    const { host, queue, logger, leases } = this.#options;
    const item = message.body;
    try {
      const fn = findFunction(host, 'activityTrigger', item.name);
      let event: ControlMessage['event'] | undefined;
      const timestamp = () => new Date().toISOString();
      if (!fn) {
        const text = `The function '${item.name}' doesn't exist, is disabled, or is not an activity function.`;
        event = {
          EventType: EventType.TaskFailed,
          EventId: -1,
          IsPlayed: false,
          Timestamp: timestamp(),
          TaskScheduledId: item.taskScheduledId,
          Reason: text,
          Details: text,
          FailureDetails: { ErrorType: 'FunctionNotFound', ErrorMessage: text },
        };
      } else {
        const outcome = await host.invoke(fn, {
          trigger: item.input === null ? undefined : { string: item.input },
        });
        host.logOutcome(fn, outcome, `activity of ${item.instanceId}`, true);
        if (outcome.failed) {
          const details = activityFailure(outcome.error);
          event = {
            EventType: EventType.TaskFailed,
            EventId: -1,
            IsPlayed: false,
            Timestamp: timestamp(),
            TaskScheduledId: item.taskScheduledId,
            Reason: details.ErrorMessage,
            Details: details.StackTrace ?? details.ErrorMessage,
            FailureDetails: details,
          };
        } else {
          let result: string;
          try {
            result = JSON.stringify(outcome.result ?? null);
          } catch (error) {
            result = '';
            const text = `The result of activity '${item.name}' cannot be serialized to JSON: ${String(error)}`;
            event = {
              EventType: EventType.TaskFailed,
              EventId: -1,
              IsPlayed: false,
              Timestamp: timestamp(),
              TaskScheduledId: item.taskScheduledId,
              Reason: text,
              Details: text,
              FailureDetails: { ErrorType: 'SerializationError', ErrorMessage: text },
            };
          }
          event ??= {
            EventType: EventType.TaskCompleted,
            EventId: -1,
            IsPlayed: false,
            Timestamp: timestamp(),
            TaskScheduledId: item.taskScheduledId,
            Result: result,
          };
        }
      }
      await this.#options.sendControl({
        id: randomUUID(),
        instanceId: item.instanceId,
        executionId: item.executionId,
        event,
      });
      leases.release(message);
      await queue.complete(message);
    } catch (error) {
      leases.release(message);
      logger.error(
        `activity ${item.name} for ${item.instanceId} could not be completed; it will run again`,
        error,
      );
      await queue.abandon(message, 1000).catch(() => undefined);
    }
  }
}

/**
 * The failure details an activity's error becomes. When the app registered an exception
 * properties provider, durable-functions has already put a JSON payload in the message; it is
 * unpacked as the Durable extension does.
 */
function activityFailure(error: unknown): FailureDetails {
  const base = failureFromError(error);
  try {
    const payload = JSON.parse(base.ErrorMessage) as {
      errorType?: string;
      errorMessage?: string;
      stackTrace?: string;
      isNonRetriable?: boolean;
      properties?: Record<string, unknown>;
    };
    if (payload && typeof payload === 'object' && typeof payload.errorMessage === 'string') {
      return {
        ErrorType: payload.errorType ?? base.ErrorType,
        ErrorMessage: payload.errorMessage,
        ...(payload.stackTrace
          ? { StackTrace: payload.stackTrace }
          : base.StackTrace
            ? { StackTrace: base.StackTrace }
            : {}),
        ...(payload.isNonRetriable !== undefined ? { IsNonRetriable: payload.isNonRetriable } : {}),
        ...(payload.properties ? { Properties: payload.properties } : {}),
      };
    }
  } catch {
    // An ordinary error message, not a payload.
  }
  return base;
}

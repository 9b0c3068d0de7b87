import { randomUUID } from 'node:crypto';
import { FunctionHost } from '../../../infra/local/host/functionHost.js';
import { installFunctionsCore } from '../../../infra/local/host/functionsCore.js';
import { Logger } from '../../../infra/local/host/logger.js';
import type { ControlMessage, Outbound } from '../../../infra/local/durable/messages.js';
import { OrchestrationSession } from '../../../infra/local/durable/orchestrationSession.js';
import { parseJsonText } from '../../../infra/local/durable/sdkActions.js';
import { EventType, TERMINAL_STATUSES, type HistoryEvent } from '../../../infra/local/durable/history.js';
import { runOrchestrator, findDurableFunction } from '../../../infra/local/durable/orchestratorRunner.js';
import { OrchestrationState } from '../../../infra/local/durable/state.js';
import {
  emptySchedulerState,
  isEntityInstanceId,
  parseSchedulerState,
  type EntitySchedulerState,
} from '../../../infra/local/durable/entities.js';
import { applyEntityMessages } from '../../../infra/local/durable/entityWorker.js';

/** Installs the runtime's core module so that `df.app.*` calls in the test register here. */
export function createTestHost(): FunctionHost {
  const core = installFunctionsCore();
  const logger = new Logger({ defaultLevel: 'warning', write: () => undefined });
  const host = new FunctionHost(core, logger);
  core.attach(host);
  return host;
}

interface Pending {
  message: ControlMessage;
  at: number;
}

/**
 * The task hub's protocol without storage: control messages, activities and timers move in
 * memory on a virtual clock, through the same OrchestrationSession and the real durable-functions
 * SDK the runtime uses. `batching` decides how many waiting messages an instance takes at once.
 */
export class DurableSimulation {
  readonly states = new Map<string, OrchestrationState>();
  /** Entities, as the runtime persists them (their state and bookkeeping). */
  readonly entities = new Map<string, EntitySchedulerState>();
  readonly activityCalls: Array<{ name: string; input: unknown }> = [];
  now = Date.parse('2026-01-01T00:00:00Z');
  #pending: Pending[] = [];
  readonly #sessions = new Map<string, number>();
  readonly #crashes = new Map<string, { session: number; retryAfterMs: number }>();
  readonly #logger = new Logger({ defaultLevel: 'warning', write: () => undefined }).child('durable');

  constructor(
    private readonly host: FunctionHost,
    private readonly batching: 'all' | 'one' = 'all',
  ) {}

  start(name: string, input: unknown, instanceId: string = randomUUID()): string {
    this.deliver({
      id: randomUUID(),
      instanceId,
      event: {
        EventType: EventType.ExecutionStarted,
        EventId: -1,
        IsPlayed: false,
        Timestamp: new Date(this.now).toISOString(),
        Name: name,
        Version: '',
        Input: input === undefined ? null : JSON.stringify(input),
        OrchestrationInstance: { InstanceId: instanceId, ExecutionId: randomUUID() },
      },
    });
    return instanceId;
  }

  raise(instanceId: string, name: string, data: unknown): void {
    this.deliver({
      id: randomUUID(),
      instanceId,
      event: {
        EventType: EventType.EventRaised,
        EventId: -1,
        IsPlayed: false,
        Timestamp: new Date(this.now).toISOString(),
        Name: name,
        Input: JSON.stringify(data),
      },
    });
  }

  /**
   * Makes the instance's `session`-th session (from 1) crash the way the dispatcher can: its
   * outbound messages are sent, then the process dies before the history is committed, and its
   * messages come back `retryAfterMs` later.
   */
  crashAfterSending(instanceId: string, session: number, retryAfterMs = 0): void {
    this.#crashes.set(instanceId, { session, retryAfterMs });
  }

  /** Queues a control message as the dispatcher would receive it; `duplicate` delivers it twice. */
  deliver(message: ControlMessage, at = this.now, duplicate = false): void {
    this.#pending.push({ message, at });
    if (duplicate) this.#pending.push({ message, at });
  }

  /** Runs until nothing is left to do, moving the clock to each timer as it comes due. */
  run(maxSteps = 10_000): Promise<void> {
    return this.#runUntil(Infinity, maxSteps);
  }

  /** Runs what comes due in the next `ms` of the clock, then leaves the clock there. */
  runFor(ms: number): Promise<void> {
    return this.#runUntil(this.now + ms, 10_000);
  }

  async #runUntil(end: number, maxSteps: number): Promise<void> {
    for (let step = 0; step < maxSteps; step++) {
      const due = this.#pending.filter((p) => p.at <= this.now);
      if (due.length === 0) {
        const next = Math.min(...this.#pending.map((p) => p.at));
        if (this.#pending.length === 0 || next > end) {
          if (end !== Infinity) this.now = end;
          return;
        }
        this.now = next;
        continue;
      }
      const instanceId = due[0]!.message.instanceId;
      const forInstance = due.filter((p) => p.message.instanceId === instanceId);
      const taken = this.batching === 'all' ? forInstance : forInstance.slice(0, 1);
      this.#pending = this.#pending.filter((p) => !taken.includes(p));
      if (isEntityInstanceId(instanceId)) {
        await this.#entity(
          instanceId,
          taken.map((t) => t.message),
        );
        continue;
      }
      await this.#session(
        instanceId,
        taken.map((t) => t.message),
      );
    }
    throw new Error('the simulation did not settle');
  }

  status(instanceId: string): {
    status: string;
    output: unknown;
    customStatus: unknown;
    history: HistoryEvent[];
  } {
    const state = this.states.get(instanceId);
    if (!state) throw new Error(`no instance ${instanceId}`);
    return {
      status: state.record.status,
      output: parseJsonText(state.record.output),
      customStatus: parseJsonText(state.record.customStatus),
      history: state.history,
    };
  }

  async #session(instanceId: string, messages: ControlMessage[]): Promise<void> {
    const count = (this.#sessions.get(instanceId) ?? 0) + 1;
    this.#sessions.set(instanceId, count);
    const crash = this.#crashes.get(instanceId);
    const crashes = crash?.session === count;
    const committed = this.states.get(instanceId);
    // A session works on the state in place; one that crashes must leave the committed state as
    // storage would have it.
    const working =
      crashes && committed
        ? OrchestrationState.rebuild(structuredClone(committed.record), structuredClone(committed.history))
        : committed;
    if (working && working !== committed) working.buffered = structuredClone(committed!.buffered);
    const session = new OrchestrationSession(
      working,
      {
        now: () => new Date(this.now),
        newId: () => randomUUID(),
        runOrchestrator: (invocation) => runOrchestrator(this.host, invocation),
        hasEntity: (name) => findDurableFunction(this.host, 'entityTrigger', name) !== undefined,
        log: this.#logger,
      },
      false,
    );
    const result = await session.process(messages);
    if (crashes) {
      for (const out of result.outbound) await this.#handle(out);
      for (const message of messages) this.#pending.push({ message, at: this.now + crash.retryAfterMs });
      return;
    }
    if (result.deferred.length > 0) {
      for (const id of result.deferred) {
        const message = messages.find((m) => m.id === id)!;
        this.#pending.push({ message, at: this.now + 1 });
      }
    }
    if (result.state) this.states.set(instanceId, result.state);
    for (const out of result.outbound) await this.#handle(out);
  }

  /** An entity's batch, through the runtime's own entity logic, committed in memory. */
  async #entity(instanceId: string, messages: ControlMessage[]): Promise<void> {
    const scheduler = structuredClone(this.entities.get(instanceId) ?? emptySchedulerState());
    const outcome = await applyEntityMessages(
      { host: this.host, logger: this.#logger },
      instanceId,
      scheduler,
      messages,
      this.now,
    );
    if (outcome.changed) this.entities.set(instanceId, parseSchedulerState(JSON.stringify(scheduler)));
    for (const message of outcome.outbound) this.deliver(message);
  }

  /** An entity's state (JSON text parsed), or undefined when it does not exist. */
  entityState(instanceId: string): unknown {
    const scheduler = this.entities.get(instanceId);
    return scheduler?.exists && scheduler.state !== undefined ? JSON.parse(scheduler.state) : undefined;
  }

  async #handle(out: Outbound): Promise<void> {
    if (out.kind === 'control') {
      this.deliver(out.message, out.visibleAt ?? this.now);
      return;
    }
    const item = out.item;
    const input: unknown = item.input === null ? undefined : JSON.parse(item.input);
    this.activityCalls.push({ name: item.name, input });
    const fn = findDurableFunction(this.host, 'activityTrigger', item.name);
    const outcome = fn
      ? await this.host.invoke(fn, { trigger: item.input === null ? undefined : { string: item.input } })
      : undefined;
    const event: HistoryEvent =
      outcome && !outcome.failed
        ? {
            EventType: EventType.TaskCompleted,
            EventId: -1,
            IsPlayed: false,
            Timestamp: new Date(this.now).toISOString(),
            TaskScheduledId: item.taskScheduledId,
            Result: JSON.stringify(outcome.result ?? null),
          }
        : {
            EventType: EventType.TaskFailed,
            EventId: -1,
            IsPlayed: false,
            Timestamp: new Date(this.now).toISOString(),
            TaskScheduledId: item.taskScheduledId,
            Reason: outcome ? String((outcome.error as Error).message) : 'missing',
            Details: '',
            FailureDetails: {
              ErrorType: 'Error',
              ErrorMessage: outcome ? String((outcome.error as Error).message) : 'missing activity',
            },
          };
    this.deliver({ id: randomUUID(), instanceId: item.instanceId, executionId: item.executionId, event });
  }

  isFinished(instanceId: string): boolean {
    const state = this.states.get(instanceId);
    return !!state && TERMINAL_STATUSES.has(state.record.status);
  }
}

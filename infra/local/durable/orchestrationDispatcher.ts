import { randomUUID } from 'node:crypto';
import type { FunctionHost } from '../host/functionHost.js';
import type { ComponentLogger } from '../host/logger.js';
import type { LeaseKeeper, QueueMessage, WorkQueue } from '../storage/workQueue.js';
import { drain, Poller } from '../util/poller.js';
import { OrchestrationSession } from './orchestrationSession.js';
import { TERMINAL_STATUSES, type HistoryEvent } from './history.js';
import {
  expandEnvelope,
  partitionOf,
  type ActivityWorkItem,
  type ControlEnvelope,
  type ControlMessage,
  type Outbound,
} from './messages.js';
import { findDurableFunction, runOrchestrator } from './orchestratorRunner.js';
import { isEntityInstanceId } from './entities.js';
import { EntityWorker } from './entityWorker.js';
import type { OrchestrationState } from './state.js';
import { ConcurrencyError, type TaskHubStore } from './taskHubStore.js';

interface Received {
  message: QueueMessage<ControlEnvelope>;
  logical: ControlMessage[];
}

interface Session {
  instanceId: string;
  inbox: Received[];
  running: boolean;
  deferrals: number;
}

export interface OrchestrationDispatcherOptions {
  host: FunctionHost;
  store: TaskHubStore;
  control: WorkQueue<ControlEnvelope>[];
  leases: LeaseKeeper;
  maxConcurrent: number;
  batchSize: number;
  maxPollIntervalMs: number;
  logger: ComponentLogger;
  sendActivities: (items: ActivityWorkItem[]) => Promise<void>;
}

/**
 * Reads control queues, keeps one session per instance so an instance never runs twice at once,
 * and commits each session's work in the order that makes a crash at any point recoverable:
 * outbound messages, then history, then deleting what was consumed.
 */
export class OrchestrationDispatcher {
  /** Orchestrator replays and their cost since start, for the logs and benchmarks. */
  readonly stats = { episodes: 0, replayMs: 0, historyEventsReplayed: 0 };
  readonly #options: OrchestrationDispatcherOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #ready: Session[] = [];
  readonly #held = new Map<string, QueueMessage<ControlEnvelope>>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #cache = new Map<string, { state: OrchestrationState | undefined; pending: boolean }>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #pollers: Poller[];
  readonly #entities: EntityWorker;
  #running = 0;
  #stopped = false;

  constructor(options: OrchestrationDispatcherOptions) {
    this.#options = options;
    this.#entities = new EntityWorker({
      host: options.host,
      store: options.store,
      logger: options.logger,
      send: async (messages) => {
        await Promise.all(messages.map((m) => this.sendControl(m)));
      },
    });
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
    this.#entities.evict(instanceId);
  }

  /** Sends one control message; see {@link sendEvents}. */
  sendControl(message: ControlMessage, visibleAt?: number): Promise<void> {
    return this.#send(
      {
        id: message.id,
        instanceId: message.instanceId,
        ...(message.executionId ? { executionId: message.executionId } : {}),
        events: [message.event],
      },
      visibleAt,
    );
  }

  /**
   * Sends events for one instance in one message, held for local delivery (at `visibleAt` for
   * timers). If this process dies before delivering it, the queue delivers it once the lease runs out.
   */
  sendEvents(instanceId: string, executionId: string | undefined, events: HistoryEvent[]): Promise<void> {
    return this.#send({ id: randomUUID(), instanceId, ...(executionId ? { executionId } : {}), events });
  }

  async #send(envelope: ControlEnvelope, visibleAt?: number): Promise<void> {
    const partition = partitionOf(envelope.instanceId, this.#options.control.length);
    const queue = this.#options.control[partition]!;
    const delayMs = visibleAt === undefined ? 0 : Math.max(0, visibleAt - Date.now());
    const sent = await queue.send(envelope, { delayMs, hold: true });
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

  #accept(partition: number, message: QueueMessage<ControlEnvelope>): void {
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
    session.inbox.push({ message, logical: expandEnvelope(message.body) });
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

  async #settle(
    message: QueueMessage<ControlEnvelope>,
    how: 'complete' | { delayMs: number },
  ): Promise<void> {
    const queue = this.#options.control[partitionOf(message.body.instanceId, this.#options.control.length)]!;
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
    const entity = isEntityInstanceId(session.instanceId);
    while (session.inbox.length > 0 && !this.#stopped) {
      const batch = session.inbox.splice(0);
      if (entity) {
        await this.#runEntity(session.instanceId, batch);
        continue;
      }
      try {
        const cached = this.#cache.get(session.instanceId) ?? (await store.load(session.instanceId));
        const started = performance.now();
        let replayMs = 0;
        let replays = 0;
        const orchestration = new OrchestrationSession(
          cached.state,
          {
            now: () => new Date(),
            newId: () => randomUUID(),
            runOrchestrator: async (invocation) => {
              const begin = performance.now();
              try {
                return await runOrchestrator(this.#options.host, invocation);
              } finally {
                replayMs += performance.now() - begin;
                replays++;
              }
            },
            hasEntity: (name) => findDurableFunction(this.#options.host, 'entityTrigger', name) !== undefined,
            log: logger,
          },
          cached.pending,
        );
        const logical = batch.flatMap((b) => b.logical);
        const result = await orchestration.process(logical);
        const decided = performance.now();
        await this.#sendOutbound(result.outbound);
        if (result.changed && result.state) await store.commit(result.state);
        this.stats.episodes += replays;
        this.stats.replayMs += replayMs;
        this.stats.historyEventsReplayed += replays * (result.state?.history.length ?? 0);
        logger.debug(
          `instance ${session.instanceId}: ${logical.length} events in, ${replays} replay(s) of ` +
            `${result.state?.history.length ?? 0} events in ${replayMs.toFixed(1)} ms, ${result.outbound.length} out, ` +
            `send+commit ${(performance.now() - decided).toFixed(1)} ms, total ${(performance.now() - started).toFixed(1)} ms`,
        );
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
          batch.map(({ message, logical }) =>
            this.#settle(message, logical.some((l) => deferred.has(l.id)) ? { delayMs } : 'complete'),
          ),
        );
      } catch (error) {
        this.#cache.delete(session.instanceId);
        const conflict = error instanceof ConcurrencyError;
        logger.error(
          `instance ${session.instanceId}: ${conflict ? 'conflicting write' : 'episode failed'}; retrying`,
          error,
        );
        await Promise.all(
          batch.map((b) => this.#settle(b.message, { delayMs: 1000 }).catch(() => undefined)),
        );
      }
    }
    // On shutdown, what is left in the inbox stays held; stop() hands it back to the queue.
    session.inbox.length = 0;
  }

  /** One batch of an entity's messages: its operations run and commit, or all wait to be retried. */
  async #runEntity(instanceId: string, batch: Received[]): Promise<void> {
    try {
      const started = performance.now();
      const { operations } = await this.#entities.process(
        instanceId,
        batch.flatMap((b) => b.logical),
      );
      this.#options.logger.debug(
        `entity ${instanceId}: ${operations} operation(s) in ${(performance.now() - started).toFixed(1)} ms`,
      );
      await Promise.all(batch.map(({ message }) => this.#settle(message, 'complete')));
    } catch (error) {
      const conflict = error instanceof ConcurrencyError;
      this.#options.logger.error(
        `entity ${instanceId}: ${conflict ? 'conflicting write' : 'batch failed'}; retrying`,
        error,
      );
      await Promise.all(batch.map((b) => this.#settle(b.message, { delayMs: 1000 }).catch(() => undefined)));
    }
  }

  async #sendOutbound(outbound: Outbound[]): Promise<void> {
    const activities: ActivityWorkItem[] = [];
    const sends: Promise<void>[] = [];
    for (const out of outbound) {
      if (out.kind === 'activity') activities.push(out.item);
      else sends.push(this.sendControl(out.message, out.visibleAt));
    }
    if (activities.length > 0) sends.push(this.#options.sendActivities(activities));
    await Promise.all(sends);
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
}

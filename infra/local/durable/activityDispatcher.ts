import { randomUUID } from 'node:crypto';
import type { FunctionHost } from '../host/functionHost.js';
import type { ComponentLogger } from '../host/logger.js';
import type { LeaseKeeper, QueueMessage, WorkQueue } from '../storage/workQueue.js';
import { drain, Poller } from '../util/poller.js';
import type { ActivityWorkItem } from './episode.js';
import { EventType, type FailureDetails, type HistoryEvent } from './history.js';
import type { WorkItemBundle } from './messages.js';
import { failureFromError, findDurableFunction } from './orchestratorRunner.js';

/** Activities one work-item message carries at most. */
const BUNDLE_SIZE = 100;
/** How long a completion waits for others of the same instance to share its control message. */
const COMPLETION_WINDOW_MS = 10;
const COMPLETIONS_PER_MESSAGE = 100;

interface HeldBundle {
  message: QueueMessage<WorkItemBundle>;
  remaining: number;
  flushed: Promise<void>[];
}

interface CompletionBuffer {
  instanceId: string;
  executionId: string;
  events: HistoryEvent[];
  waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
  timer?: NodeJS.Timeout;
}

export interface ActivityDispatcherOptions {
  host: FunctionHost;
  queue: WorkQueue<WorkItemBundle>;
  leases: LeaseKeeper;
  maxConcurrent: number;
  maxPollIntervalMs: number;
  logger: ComponentLogger;
  sendEvents: (instanceId: string, executionId: string, events: HistoryEvent[]) => Promise<void>;
}

/**
 * Runs activities from the work-item queue, at most `maxConcurrent` at a time. Work items travel
 * in bundles and completions of one instance share control messages, so a fan-out of a thousand
 * activities costs tens of queue operations rather than thousands. A bundle is deleted only once
 * every completion in it has been sent; after a crash the whole bundle runs again and the
 * orchestration keeps the first completion of each activity.
 */
export class ActivityDispatcher {
  readonly #options: ActivityDispatcherOptions;
  readonly #pending: Array<{ bundle: HeldBundle; item: ActivityWorkItem }> = [];
  readonly #bundles = new Set<HeldBundle>();
  readonly #buffers = new Map<string, CompletionBuffer>();
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
        if (this.#pending.length > 0 || this.#running >= options.maxConcurrent) return 0;
        const messages = await options.queue.receive(4);
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
    this.#pending.length = 0;
    await drain(this.#inFlight);
    for (const buffer of this.#buffers.values()) this.#flush(buffer);
    await drain(this.#inFlight);
    // Bundles with activities that never started go back to the queue, to run after a restart.
    await Promise.all(
      [...this.#bundles].map(async (bundle) => {
        this.#options.leases.release(bundle.message);
        await this.#options.queue.abandon(bundle.message, 0).catch(() => undefined);
      }),
    );
    this.#bundles.clear();
  }

  /**
   * Schedules activities. While the local backlog is short, their bundles are held and run here
   * directly; past that they are left visible in the queue, to be received when there is room.
   */
  async send(items: ActivityWorkItem[]): Promise<void> {
    const sends: Promise<void>[] = [];
    for (let i = 0; i < items.length; i += BUNDLE_SIZE) {
      const bundle: WorkItemBundle = { id: randomUUID(), items: items.slice(i, i + BUNDLE_SIZE) };
      const hold =
        !this.#stopped && this.#pending.length < Math.max(this.#options.maxConcurrent * 4, 2 * BUNDLE_SIZE);
      sends.push(
        this.#options.queue.send(bundle, { hold }).then((sent) => {
          if (hold && !this.#stopped) this.#enqueue(sent);
        }),
      );
    }
    await Promise.all(sends);
  }

  #enqueue(message: QueueMessage<WorkItemBundle>): void {
    this.#options.leases.hold(this.#options.queue, message);
    const bundle: HeldBundle = { message, remaining: message.body.items.length, flushed: [] };
    this.#bundles.add(bundle);
    for (const item of message.body.items) this.#pending.push({ bundle, item });
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#running < this.#options.maxConcurrent && this.#pending.length > 0) {
      const { bundle, item } = this.#pending.shift()!;
      this.#running++;
      const work = this.#run(bundle, item).finally(() => {
        this.#inFlight.delete(work);
        this.#running--;
        this.#pump();
        if (this.#pending.length === 0) this.#poller.wake();
      });
      this.#inFlight.add(work);
    }
  }

  async #run(bundle: HeldBundle, item: ActivityWorkItem): Promise<void> {
    const event = await this.#execute(item);
    bundle.flushed.push(this.#complete(item, event));
    bundle.remaining--;
    if (bundle.remaining > 0) return;
    const { queue, leases, logger } = this.#options;
    try {
      await Promise.all(bundle.flushed);
      leases.release(bundle.message);
      this.#bundles.delete(bundle);
      await queue.complete(bundle.message);
    } catch (error) {
      leases.release(bundle.message);
      this.#bundles.delete(bundle);
      logger.error(
        `activity results for ${item.instanceId} could not be sent; the bundle will run again`,
        error,
      );
      await queue.abandon(bundle.message, 1000).catch(() => undefined);
    }
  }

  /** Runs one activity and turns its outcome into the history event that reports it. */
  async #execute(item: ActivityWorkItem): Promise<HistoryEvent> {
    const { host } = this.#options;
    const base = { EventId: -1, IsPlayed: false, TaskScheduledId: item.taskScheduledId };
    const failed = (details: FailureDetails): HistoryEvent => ({
      ...base,
      EventType: EventType.TaskFailed,
      Timestamp: new Date().toISOString(),
      Reason: details.ErrorMessage,
      Details: details.StackTrace ?? details.ErrorMessage,
      FailureDetails: details,
    });
    const fn = findDurableFunction(host, 'activityTrigger', item.name);
    if (!fn) {
      const text = `The function '${item.name}' doesn't exist, is disabled, or is not an activity function.`;
      return failed({ ErrorType: 'FunctionNotFound', ErrorMessage: text });
    }
    const outcome = await host.invoke(fn, {
      trigger: item.input === null ? undefined : { string: item.input },
    });
    host.logOutcome(fn, outcome, `activity of ${item.instanceId}`, true);
    if (outcome.failed) return failed(activityFailure(outcome.error));
    let result: string;
    try {
      result = JSON.stringify(outcome.result ?? null);
    } catch (error) {
      const text = `The result of activity '${item.name}' cannot be serialized to JSON: ${String(error)}`;
      return failed({ ErrorType: 'SerializationError', ErrorMessage: text });
    }
    return {
      ...base,
      EventType: EventType.TaskCompleted,
      Timestamp: new Date().toISOString(),
      Result: result,
    };
  }

  /** Adds a completion to its instance's next control message; resolves once that is sent. */
  #complete(item: ActivityWorkItem, event: HistoryEvent): Promise<void> {
    const key = `${item.instanceId}\u0000${item.executionId}`;
    let buffer = this.#buffers.get(key);
    if (!buffer) {
      buffer = { instanceId: item.instanceId, executionId: item.executionId, events: [], waiters: [] };
      this.#buffers.set(key, buffer);
    }
    const target = buffer;
    const done = new Promise<void>((resolve, reject) => target.waiters.push({ resolve, reject }));
    target.events.push(event);
    if (target.events.length >= COMPLETIONS_PER_MESSAGE || this.#stopped) this.#flush(target);
    else target.timer ??= setTimeout(() => this.#flush(target), COMPLETION_WINDOW_MS);
    return done;
  }

  #flush(buffer: CompletionBuffer): void {
    clearTimeout(buffer.timer);
    if (this.#buffers.get(`${buffer.instanceId}\u0000${buffer.executionId}`) === buffer) {
      this.#buffers.delete(`${buffer.instanceId}\u0000${buffer.executionId}`);
    }
    if (buffer.events.length === 0) return;
    const { events, waiters } = buffer;
    buffer.events = [];
    buffer.waiters = [];
    const work = this.#options.sendEvents(buffer.instanceId, buffer.executionId, events).then(
      () => waiters.forEach((w) => w.resolve()),
      (error: unknown) => waiters.forEach((w) => w.reject(error)),
    );
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
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
    } | null;
    if (payload && typeof payload === 'object' && typeof payload.errorMessage === 'string') {
      const stack = payload.stackTrace ?? base.StackTrace;
      return {
        ErrorType: payload.errorType ?? base.ErrorType,
        ErrorMessage: payload.errorMessage,
        ...(stack ? { StackTrace: stack } : {}),
        ...(payload.isNonRetriable !== undefined ? { IsNonRetriable: payload.isNonRetriable } : {}),
        ...(payload.properties ? { Properties: payload.properties } : {}),
      };
    }
  } catch {
    // An ordinary error message, not a payload.
  }
  return base;
}

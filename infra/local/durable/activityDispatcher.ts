import { BUILTIN_HTTP_ACTIVITY, callDurableHttp } from './durableHttp.js';
import { randomUUID } from 'node:crypto';
import type { FunctionHost } from '../host/functionHost.js';
import type { ComponentLogger } from '../host/logger.js';
import { BundleRunner } from '../storage/bundleRunner.js';
import type { LeaseKeeper, WorkQueue } from '../storage/workQueue.js';
import { drain } from '../util/poller.js';
import { EventType, type FailureDetails, type HistoryEvent } from './history.js';
import type { ActivityWorkItem, WorkItemBundle } from './messages.js';
import { failureFromError, findDurableFunction } from './orchestratorRunner.js';

/** How long a durable HTTP call may take (the extension's HTTP timeout is 240 s). */
const DURABLE_HTTP_TIMEOUT_MS = 240_000;
/** Activities one work-item message carries at most. */
const BUNDLE_SIZE = 100;
/** How long a completion waits for others of the same instance to share its control message. */
const COMPLETION_WINDOW_MS = 10;
const COMPLETIONS_PER_MESSAGE = 100;

interface CompletionBuffer {
  key: string;
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
  readonly #runner: BundleRunner<WorkItemBundle, ActivityWorkItem, Promise<void>[]>;
  readonly #buffers = new Map<string, CompletionBuffer>();
  readonly #flushes = new Set<Promise<unknown>>();
  #stopped = false;

  constructor(options: ActivityDispatcherOptions) {
    this.#options = options;
    this.#runner = new BundleRunner({
      name: options.queue.name,
      queue: options.queue,
      leases: options.leases,
      logger: options.logger,
      concurrency: options.maxConcurrent,
      maxBacklog: Math.max(options.maxConcurrent * 4, 2 * BUNDLE_SIZE),
      maxPollIntervalMs: options.maxPollIntervalMs,
      items: (bundle) => bundle.items,
      state: (): Promise<void>[] => [],
      run: async (item, sent) => {
        sent.push(this.#complete(item, await this.#execute(item)));
      },
      // Every completion of the bundle must be sent before the bundle may go.
      settle: async (_message, sent) => {
        await Promise.all(sent);
      },
    });
  }

  start(): void {
    this.#stopped = false;
    this.#runner.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const stopping = this.#runner.stop();
    // Completions still waiting for company go out now, so settling bundles is not held up.
    for (const buffer of [...this.#buffers.values()]) this.#flush(buffer);
    await stopping;
    await drain(this.#flushes);
  }

  /** Schedules activities, up to a hundred to a work-item message. */
  async send(items: ActivityWorkItem[]): Promise<void> {
    const sends: Promise<void>[] = [];
    for (let i = 0; i < items.length; i += BUNDLE_SIZE) {
      sends.push(this.#runner.submit({ id: randomUUID(), items: items.slice(i, i + BUNDLE_SIZE) }));
    }
    await Promise.all(sends);
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
    if (item.name === BUILTIN_HTTP_ACTIVITY) {
      try {
        const response = await callDurableHttp(item.input, DURABLE_HTTP_TIMEOUT_MS);
        return {
          ...base,
          EventType: EventType.TaskCompleted,
          Timestamp: new Date().toISOString(),
          Result: JSON.stringify(response),
        };
      } catch (error) {
        return failed(failureFromError(error));
      }
    }
    const fn = findDurableFunction(host, 'activityTrigger', item.name);
    if (!fn) {
      const text = `The function '${item.name}' doesn't exist, is disabled, or is not an activity function.`;
      return failed({ ErrorType: 'FunctionNotFound', ErrorMessage: text });
    }
    const outcome = await host.invoke(fn, {
      trigger: item.input === null ? undefined : { string: item.input },
    });
    host.logOutcome(fn, outcome, `activity of ${item.instanceId} (event ${item.taskScheduledId})`, true);
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
      buffer = { key, instanceId: item.instanceId, executionId: item.executionId, events: [], waiters: [] };
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
    if (this.#buffers.get(buffer.key) === buffer) this.#buffers.delete(buffer.key);
    if (buffer.events.length === 0) return;
    const { events, waiters } = buffer;
    buffer.events = [];
    buffer.waiters = [];
    const work = this.#options.sendEvents(buffer.instanceId, buffer.executionId, events).then(
      () => waiters.forEach((w) => w.resolve()),
      (error: unknown) => waiters.forEach((w) => w.reject(error)),
    );
    this.#flushes.add(work);
    void work.finally(() => this.#flushes.delete(work));
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

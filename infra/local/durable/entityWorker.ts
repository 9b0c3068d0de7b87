import type { FunctionHost } from '../host/functionHost.js';
import type { ComponentLogger } from '../host/logger.js';
import {
  admitRequests,
  entityIdProblem,
  entityInstanceId,
  missingEntityFunction,
  OPERATION_EVENT_NAME,
  parseEntityBatchResult,
  parseEntityInstanceId,
  parseSchedulerState,
  requestId,
  requestEvent,
  requestMessageSchema,
  responseFor,
  responseMessageId,
  SENDER_MEMORY_MS,
  type ArrivedRequest,
  type EntityBatchResult,
  type EntityId,
  type EntitySchedulerState,
  type RequestMessage,
  type ResponseMessage,
} from './entities.js';
import { EventType } from './history.js';
import type { ControlMessage } from './messages.js';
import { findDurableFunction } from './orchestratorRunner.js';
import type { InstanceRecord } from './state.js';
import type { TaskHubStore } from './taskHubStore.js';

/** Operations given to one run of an entity function; more wait for the next run. */
const MAX_OPERATIONS_PER_RUN = 100;

interface LoadedEntity {
  record: InstanceRecord | undefined;
  scheduler: EntitySchedulerState;
  etag: string | undefined;
}

export interface EntityWorkerOptions {
  host: FunctionHost;
  store: TaskHubStore;
  logger: ComponentLogger;
  /** Sends messages the batch produced (responses, signals); resolves once they are stored. */
  send: (messages: ControlMessage[]) => Promise<void>;
}

/**
 * Runs entity operations: for one entity at a time (the dispatcher's sessions see to that), admits
 * the requests that arrived, runs them through the app's entity function in order, and commits
 * the entity's new state with its bookkeeping after the responses and signals are sent. A crash
 * before the commit runs the batch again from the old state; the repeats it sends carry the same
 * ids and positions, which their receivers drop.
 */
export class EntityWorker {
  readonly #options: EntityWorkerOptions;
  readonly #cache = new Map<string, LoadedEntity>();

  constructor(options: EntityWorkerOptions) {
    this.#options = options;
  }

  evict(instanceId: string): void {
    this.#cache.delete(instanceId);
  }

  /** Applies control messages to an entity. Throws when the commit conflicts; the caller retries. */
  async process(instanceId: string, messages: ControlMessage[]): Promise<{ operations: number }> {
    const id = parseEntityInstanceId(instanceId);
    if (!id) {
      this.#options.logger.warn(
        `dropping ${messages.length} message(s) for "${instanceId}", which names no entity`,
      );
      return { operations: 0 };
    }
    try {
      const loaded = this.#cache.get(instanceId) ?? (await this.#load(instanceId));
      const scheduler = structuredClone(loaded.scheduler);
      const now = Date.now();
      const outcome = await applyEntityMessages(this.#options, instanceId, scheduler, messages, now);
      if (!outcome.changed) return { operations: 0 };
      await this.#options.send(outcome.outbound);
      const nowText = new Date(now).toISOString();
      const record: InstanceRecord = {
        instanceId,
        name: id.name,
        version: '',
        executionId: '',
        status: 'Running',
        input: JSON.stringify(scheduler),
        output: null,
        customStatus: null,
        createdTime: loaded.record?.createdTime ?? nowText,
        lastUpdatedTime: outcome.operations > 0 ? nowText : (loaded.record?.lastUpdatedTime ?? nowText),
      };
      const etag = await this.#options.store.replaceInstance(record, loaded.etag);
      this.#cache.set(instanceId, { record, scheduler, etag });
      return { operations: outcome.operations };
    } catch (error) {
      this.#cache.delete(instanceId);
      throw error;
    }
  }

  async #load(instanceId: string): Promise<LoadedEntity> {
    const found = await this.#options.store.getInstance(instanceId);
    if (!found) return { record: undefined, scheduler: parseSchedulerState(null), etag: undefined };
    return { record: found.record, scheduler: parseSchedulerState(found.record.input), etag: found.etag };
  }
}

/** What running an entity's operations needs: the app's functions, and somewhere to say what went wrong. */
export interface EntityRunContext {
  host: FunctionHost;
  logger: ComponentLogger;
}

/**
 * Applies control messages to an entity's scheduler state (mutated in place): admits the
 * requests, runs those ready through the entity function in order, and returns the responses and
 * signals to send. `changed` is false when nothing needs committing (only repeats arrived).
 */
export async function applyEntityMessages(
  ctx: EntityRunContext,
  instanceId: string,
  scheduler: EntitySchedulerState,
  messages: ControlMessage[],
  now: number,
): Promise<{ outbound: ControlMessage[]; operations: number; changed: boolean }> {
  const id = parseEntityInstanceId(instanceId);
  if (!id) throw new Error(`"${instanceId}" names no entity`);
  const before = JSON.stringify(scheduler);
  const { ready } = admitRequests(scheduler, arrivals(ctx, instanceId, messages), now);
  const outbound: ControlMessage[] = [];
  // Operations run in slices between the lock changes that order them.
  const operations: RequestMessage[] = [];
  let ran = 0;
  const flush = async () => {
    for (let i = 0; i < operations.length; i += MAX_OPERATIONS_PER_RUN) {
      const slice = operations.slice(i, i + MAX_OPERATIONS_PER_RUN);
      await runSlice(ctx, id, instanceId, scheduler, slice, outbound, now);
    }
    ran += operations.length;
    operations.length = 0;
  };
  const work = [...ready];
  while (work.length > 0) {
    const item = work.shift()!;
    const request = item.request;
    if (request.release) {
      if (scheduler.lockedBy !== undefined && scheduler.lockedBy === request.parent) {
        await flush();
        delete scheduler.lockedBy;
        // What waited on the lock comes next, in the order it arrived.
        work.unshift(...scheduler.queue.splice(0));
      }
      continue;
    }
    if (scheduler.lockedBy !== undefined && request.parent !== scheduler.lockedBy) {
      scheduler.queue.push(item);
      continue;
    }
    if (request.lockset) {
      await flush();
      scheduler.lockedBy = request.parent ?? '';
      outbound.push(lockStep(instanceId, scheduler, request, now));
      continue;
    }
    operations.push(request);
  }
  await flush();
  for (const [target, sent] of Object.entries(scheduler.sent)) {
    // The receiver has forgotten this sender by now; numbering starts afresh.
    if (now - Date.parse(sent.at) > 2 * SENDER_MEMORY_MS) delete scheduler.sent[target];
  }
  return { outbound, operations: ran, changed: JSON.stringify(scheduler) !== before };
}
function arrivals(ctx: EntityRunContext, instanceId: string, messages: ControlMessage[]): ArrivedRequest[] {
  const arrived: ArrivedRequest[] = [];
  for (const message of messages) {
    const event = message.event;
    let request: RequestMessage | undefined;
    if (event.EventType === EventType.EventRaised && event.Name === OPERATION_EVENT_NAME) {
      try {
        const parsed = requestMessageSchema.safeParse(JSON.parse(event.Input ?? ''));
        if (parsed.success) request = parsed.data;
      } catch {
        request = undefined;
      }
    }
    if (request) arrived.push({ messageId: message.id, request });
    else ctx.logger.warn(`entity ${instanceId}: dropping a message that is not an operation request`);
  }
  return arrived;
}

/**
 * This entity is locked for a critical section: the request goes on to the next entity of the
 * lock set (in the set's order, which is how two sections cannot deadlock), or, from the last,
 * back to the orchestration as the answer that the section has begun.
 */
function lockStep(
  instanceId: string,
  scheduler: EntitySchedulerState,
  request: RequestMessage,
  now: number,
): ControlMessage {
  const lockset = request.lockset ?? [];
  const pos = (request.pos ?? 0) + 1;
  if (pos >= lockset.length) return answer(request, { result: null }, now);
  const target = lockset[pos]!;
  const { sender: _sender, seq: _seq, prevSentAt: _prev, ...rest } = request;
  return sendFromEntity(instanceId, scheduler, target, 'lock', { ...rest, pos }, now);
}

/** The answer to a call or lock, as an event named after its request id. */
function answer(request: RequestMessage, response: ResponseMessage, now: number): ControlMessage {
  return {
    id: responseMessageId(request.id),
    instanceId: request.parent ?? '',
    ...(request.parentExecution ? { executionId: request.parentExecution } : {}),
    event: {
      EventType: EventType.EventRaised,
      EventId: -1,
      IsPlayed: false,
      Timestamp: new Date(now).toISOString(),
      Name: request.id,
      Input: JSON.stringify(response),
    },
  };
}

/**
 * A request this entity sends to another (a signal, or a lock passed on), numbered in its own
 * sequence to that entity; the id is derived from that number, so a batch that runs again after
 * a crash sends the same message.
 */
function sendFromEntity(
  instanceId: string,
  scheduler: EntitySchedulerState,
  target: string,
  kind: 'signal' | 'lock',
  request: Partial<RequestMessage> & { op: string },
  now: number,
): ControlMessage {
  const nowText = new Date(now).toISOString();
  const sent = scheduler.sent[target];
  const seq = (sent?.count ?? 0) + 1;
  scheduler.sent[target] = { count: seq, at: nowText };
  const messageId = requestId(instanceId, `${kind}:${target}`, seq);
  const full: RequestMessage = {
    ...request,
    op: request.op,
    id: request.id ?? messageId,
    sender: instanceId,
    seq,
    ...(sent ? { prevSentAt: sent.at } : {}),
    timestamp: nowText,
  };
  return { id: messageId, instanceId: target, event: requestEvent(full) };
}

/** Runs one slice of operations and adds the responses and signals it produced to `outbound`. */
async function runSlice(
  ctx: EntityRunContext,
  id: EntityId,
  instanceId: string,
  scheduler: EntitySchedulerState,
  batch: RequestMessage[],
  outbound: ControlMessage[],
  now: number,
): Promise<void> {
  const outcome = await invokeEntity(ctx.host, id, scheduler, batch);
  if (typeof outcome === 'string') {
    ctx.logger.warn(`entity ${instanceId}: ${batch.length} operation(s) failed: ${outcome}`);
  } else {
    scheduler.exists = outcome.entityExists;
    if (outcome.entityExists && outcome.entityState !== undefined) scheduler.state = outcome.entityState;
    else delete scheduler.state;
  }
  batch.forEach((request, index) => {
    if (request.signal || !request.parent) return;
    const result =
      typeof outcome === 'string'
        ? { isError: true, result: JSON.stringify(outcome) }
        : (outcome.results[index] ?? {
            isError: true,
            result: JSON.stringify('The entity function reported no result for this operation.'),
          });
    outbound.push(answer(request, responseFor(result), now));
  });
  if (typeof outcome === 'string') return;
  for (const signal of outcome.signals) {
    const problem = entityIdProblem(signal.target);
    if (problem) {
      ctx.logger.warn(`entity ${instanceId}: dropping a signal "${signal.name}": ${problem}`);
      continue;
    }
    const target = entityInstanceId(signal.target);
    outbound.push(
      sendFromEntity(
        instanceId,
        scheduler,
        target,
        'signal',
        { op: signal.name, signal: true, input: signal.input === '' ? null : signal.input },
        now,
      ),
    );
  }
}

/** Runs the app's entity function over a batch, as the extension does for an out-of-process worker. */
async function invokeEntity(
  host: FunctionHost,
  id: EntityId,
  scheduler: EntitySchedulerState,
  batch: RequestMessage[],
): Promise<EntityBatchResult | string> {
  const fn = findDurableFunction(host, 'entityTrigger', id.name);
  if (!fn) return missingEntityFunction(id.name);
  const bindingInfo = {
    self: { name: id.name, key: id.key },
    exists: scheduler.exists,
    state: scheduler.state ?? null,
    batch: batch.map((request) => ({
      name: request.op,
      input: request.input ?? null,
      isSignal: request.signal ?? false,
    })),
  };
  const outcome = await host.invoke(fn, { trigger: { string: JSON.stringify(bindingInfo) } });
  if (outcome.failed) {
    const error = outcome.error;
    return `the entity function failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  return parseEntityBatchResult(outcome.result);
}

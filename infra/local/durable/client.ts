import { randomUUID } from 'node:crypto';
import type { FunctionHost } from '../host/functionHost.js';
import type { OrchestrationDispatcher } from './orchestrationDispatcher.js';
import { EventType, TERMINAL_STATUSES, type HistoryEvent, type RuntimeStatus } from './history.js';
import { instanceIdProblem } from './messages.js';
import type { InstanceRecord } from './state.js';
import type { InstanceQuery, InstancePage, TaskHubStore } from './taskHubStore.js';
import {
  entityIdProblem,
  entityInstanceId,
  missingEntityFunction,
  parseEntityInstanceId,
  parseSchedulerState,
  requestEvent,
  type EntityId,
  type RequestMessage,
} from './entities.js';
import { findDurableFunction } from './orchestratorRunner.js';

/** Filters for listing entities, as the Durable HTTP API takes them. */
export interface EntityQuery {
  name?: string;
  lastOperationTimeFrom?: Date;
  lastOperationTimeTo?: Date;
  top?: number;
  continuationToken?: string;
}

/** An entity as a list shows it. */
export interface EntityStatus {
  entityId: EntityId;
  lastOperationTime: string;
  /** JSON text of its state. */
  state: string | null;
}

export type StartResult =
  { ok: true; instanceId: string } | { ok: false; status: 400 | 409; message: string };

export type ControlResult = 'accepted' | 'not-found' | 'gone';

/** The operations a Durable client can ask of the task hub, behind the HTTP management API. */
export class TaskHubClient {
  constructor(
    private readonly store: TaskHubStore,
    private readonly dispatcher: OrchestrationDispatcher,
    private readonly host: FunctionHost,
  ) {}

  /**
   * Starts an orchestration. An instance id already in use by a pending or running instance is
   * refused; a finished one is replaced by the new execution.
   */
  async start(
    name: string,
    instanceId: string | undefined,
    input: string | null,
    version = '',
  ): Promise<StartResult> {
    const fn = this.host
      .byTrigger('orchestrationTrigger')
      .find((f) => f.name.toLowerCase() === name.toLowerCase());
    if (!fn) {
      return {
        ok: false,
        status: 400,
        message: `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      };
    }
    const id = instanceId ?? randomUUID().replace(/-/g, '');
    const problem = instanceIdProblem(id);
    if (problem) return { ok: false, status: 400, message: `Invalid instance id '${id}': ${problem}.` };
    if (input !== null && input.trim() !== '') {
      try {
        JSON.parse(input);
      } catch {
        return { ok: false, status: 400, message: 'The orchestration input is not valid JSON.' };
      }
    }
    const existing = await this.store.getInstance(id);
    if (existing && !TERMINAL_STATUSES.has(existing.record.status)) {
      return {
        ok: false,
        status: 409,
        message: `An instance with ID '${id}' already exists and is ${existing.record.status}.`,
      };
    }
    const now = new Date().toISOString();
    const executionId = randomUUID().replace(/-/g, '');
    const inputText = input !== null && input.trim() !== '' ? input : null;
    // The message goes first: if this process dies before the row is written, the start still
    // happens and the dispatcher writes the row itself.
    await this.dispatcher.sendControl({
      id: randomUUID(),
      instanceId: id,
      event: {
        EventType: EventType.ExecutionStarted,
        EventId: -1,
        IsPlayed: false,
        Timestamp: now,
        Name: fn.name,
        Version: version,
        Input: inputText,
        OrchestrationInstance: { InstanceId: id, ExecutionId: executionId },
      },
    });
    const record: InstanceRecord = {
      instanceId: id,
      name: fn.name,
      version,
      executionId,
      status: 'Pending',
      input: inputText,
      output: null,
      customStatus: null,
      createdTime: now,
      lastUpdatedTime: now,
    };
    this.dispatcher.evict(id);
    await this.store.createInstance(record, existing?.etag);
    return { ok: true, instanceId: id };
  }

  async get(instanceId: string): Promise<InstanceRecord | undefined> {
    return (await this.store.getInstance(instanceId))?.record;
  }

  /** The current execution's history, as committed. */
  async history(instanceId: string): Promise<HistoryEvent[]> {
    const { state } = await this.store.load(instanceId);
    return state?.history ?? [];
  }

  list(query: InstanceQuery): Promise<InstancePage> {
    return this.store.queryInstances(query);
  }

  async raiseEvent(instanceId: string, name: string, data: string | null): Promise<ControlResult> {
    return this.#control(instanceId, {
      EventType: EventType.EventRaised,
      EventId: -1,
      IsPlayed: false,
      Timestamp: new Date().toISOString(),
      Name: name,
      Input: data,
    });
  }

  terminate(instanceId: string, reason: string): Promise<ControlResult> {
    return this.#control(instanceId, {
      EventType: EventType.ExecutionTerminated,
      EventId: -1,
      IsPlayed: false,
      Timestamp: new Date().toISOString(),
      Input: JSON.stringify(reason),
    });
  }

  suspend(instanceId: string, reason: string): Promise<ControlResult> {
    return this.#control(instanceId, {
      EventType: EventType.ExecutionSuspended,
      EventId: -1,
      IsPlayed: false,
      Timestamp: new Date().toISOString(),
      Input: JSON.stringify(reason),
    });
  }

  resume(instanceId: string, reason: string): Promise<ControlResult> {
    return this.#control(instanceId, {
      EventType: EventType.ExecutionResumed,
      EventId: -1,
      IsPlayed: false,
      Timestamp: new Date().toISOString(),
      Input: JSON.stringify(reason),
    });
  }

  async #control(instanceId: string, event: HistoryEvent): Promise<ControlResult> {
    const found = await this.store.getInstance(instanceId);
    if (!found) return 'not-found';
    if (TERMINAL_STATUSES.has(found.record.status)) return 'gone';
    await this.dispatcher.sendControl({ id: randomUUID(), instanceId, event });
    return 'accepted';
  }

  /**
   * Sends an entity an operation as a one-way signal. Refused, as by the extension, when the key
   * cannot name an entity or the app has no entity function of that name.
   */
  async signalEntity(
    id: EntityId,
    operation: string,
    input: string | null,
  ): Promise<{ ok: true } | { ok: false; message: string }> {
    const problem = entityIdProblem(id);
    if (problem) return { ok: false, message: `Invalid entity id: ${problem}.` };
    if (!findDurableFunction(this.host, 'entityTrigger', id.name)) {
      return {
        ok: false,
        message: missingEntityFunction(id.name),
      };
    }
    const request: RequestMessage = {
      id: randomUUID(),
      op: operation,
      signal: true,
      input,
      timestamp: new Date().toISOString(),
    };
    await this.dispatcher.sendControl({
      id: request.id,
      instanceId: entityInstanceId(id),
      event: requestEvent(request),
    });
    return { ok: true };
  }

  /** An entity's state as last committed; an entity that never ran or was deleted does not exist. */
  async readEntity(id: EntityId): Promise<{ exists: false } | { exists: true; state: string | null }> {
    if (entityIdProblem(id)) return { exists: false };
    const found = await this.store.getInstance(entityInstanceId(id));
    if (!found) return { exists: false };
    const scheduler = parseSchedulerState(found.record.input);
    return scheduler.exists ? { exists: true, state: scheduler.state ?? null } : { exists: false };
  }

  /** Entities that exist, of one name or all, a page at a time. */
  async listEntities(query: EntityQuery): Promise<{ entities: EntityStatus[]; continuationToken?: string }> {
    const page = await this.store.queryInstances({
      instanceIdPrefix: query.name ? `@${query.name.toLowerCase()}@` : '@',
      ...(query.lastOperationTimeFrom ? { lastUpdatedTimeFrom: query.lastOperationTimeFrom } : {}),
      ...(query.lastOperationTimeTo ? { lastUpdatedTimeTo: query.lastOperationTimeTo } : {}),
      top: query.top ?? 100,
      ...(query.continuationToken ? { continuationToken: query.continuationToken } : {}),
    });
    const entities: EntityStatus[] = [];
    for (const record of page.records) {
      const entityId = parseEntityInstanceId(record.instanceId);
      const scheduler = parseSchedulerState(record.input);
      if (!entityId || !scheduler.exists) continue;
      entities.push({ entityId, lastOperationTime: record.lastUpdatedTime, state: scheduler.state ?? null });
    }
    return { entities, ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}) };
  }

  /**
   * Deletes an instance's record and history whatever its state, as Azure Storage does: a running
   * one simply stops being known (messages still on their way to it are dropped as stale).
   */
  async purge(instanceId: string): Promise<'purged' | 'not-found'> {
    const found = await this.store.getInstance(instanceId);
    if (!found) return 'not-found';
    await this.store.purge(instanceId);
    this.dispatcher.evict(instanceId);
    return 'purged';
  }

  async purgeWhere(query: Omit<InstanceQuery, 'top' | 'continuationToken'>): Promise<number> {
    const statuses = (query.runtimeStatus ?? ['Completed', 'Failed', 'Terminated']).filter(
      (s: RuntimeStatus) => TERMINAL_STATUSES.has(s),
    );
    let deleted = 0;
    let continuationToken: string | undefined;
    const ids: string[] = [];
    do {
      const page = await this.store.queryInstances({
        ...query,
        runtimeStatus: statuses,
        top: 500,
        ...(continuationToken ? { continuationToken } : {}),
      });
      ids.push(...page.records.map((r) => r.instanceId));
      continuationToken = page.continuationToken;
    } while (continuationToken);
    for (const id of ids) {
      await this.store.purge(id);
      this.dispatcher.evict(id);
      deleted++;
    }
    return deleted;
  }
}

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { EventType, type HistoryEvent } from './history.js';

/**
 * Durable entities as the Durable extension keeps them: an entity is an instance whose id is
 * `@<name>@<key>` (the name lower-cased), fed operation requests through its control queue and
 * running them one batch at a time.
 */

/** An entity's identity, as the SDK's EntityId carries it. */
export interface EntityId {
  name: string;
  key: string;
}

/** The instance id (DTFx's scheduler id) of an entity. */
export function entityInstanceId(id: EntityId): string {
  return `@${id.name.toLowerCase()}@${id.key}`;
}

export function isEntityInstanceId(instanceId: string): boolean {
  return instanceId.startsWith('@');
}

/** The entity an instance id names, if it names one. */
export function parseEntityInstanceId(instanceId: string): EntityId | undefined {
  if (!instanceId.startsWith('@')) return undefined;
  const at = instanceId.indexOf('@', 1);
  if (at < 2) return undefined;
  return { name: instanceId.slice(1, at), key: instanceId.slice(at + 1) };
}

/** Why a name or key cannot name an entity, if it cannot. */
export function entityIdProblem(id: EntityId): string | undefined {
  if (id.name.length === 0) return 'the entity name is empty';
  if (id.name.includes('@')) return 'the entity name contains "@"';
  if (id.key.length === 0) return 'the entity key is empty';
  const full = entityInstanceId(id);
  if (full.length > 256) return 'the entity name and key are longer than 254 characters together';
  // eslint-disable-next-line no-control-regex
  if (/[/\\#?\u0000-\u001f\u007f-\u009f]/.test(full)) {
    return 'the entity name or key contains "/", "\\", "#", "?" or a control character';
  }
  return undefined;
}

/**
 * An operation request on its way to an entity: the extension's RequestMessage (`id`, `op`,
 * `signal`, `input`, `parent`, `parentExecution`), plus where it stands in its sender's sequence
 * to this entity, which is how the entity applies each sender's requests once and in order.
 */
export const requestMessageSchema = z.looseObject({
  id: z.string().min(1),
  op: z.string(),
  signal: z.boolean().optional(),
  /** JSON text of the operation's input. */
  input: z.string().nullable().optional(),
  parent: z.string().optional(),
  parentExecution: z.string().optional(),
  /** Who sent it (an orchestration execution or an entity); absent for a client's signal. */
  sender: z.string().optional(),
  /** Its place (from 1) among the sender's requests to this entity. */
  seq: z.number().int().min(1).optional(),
  /** When the sender sent its request before this one to this entity. */
  prevSentAt: z.string().optional(),
  timestamp: z.string(),
  /** A lock request (context.df.lock): the entities to lock, in order, and which this one is. */
  lockset: z.array(z.string().min(1)).optional(),
  pos: z.number().int().min(0).optional(),
  /** The end of the parent's critical section: the entity is unlocked. */
  release: z.boolean().optional(),
});

export type RequestMessage = z.infer<typeof requestMessageSchema>;

/** The name an operation request travels under (EventSent and EventRaised both carry it). */
export const OPERATION_EVENT_NAME = 'op';

/** The event a request travels in, on the entity's control queue. */
export function requestEvent(request: RequestMessage): HistoryEvent {
  return {
    EventType: EventType.EventRaised,
    EventId: -1,
    IsPlayed: false,
    Timestamp: request.timestamp,
    Name: OPERATION_EVENT_NAME,
    Input: JSON.stringify(request),
  };
}

/** The extension's words when an app has no entity function of a name. */
export function missingEntityFunction(name: string): string {
  return `The function '${name}' doesn't exist, is disabled, or is not an entity function.`;
}

/**
 * A stable request id: the same orchestration task gets the same id when its episode runs again
 * after a crash, so the entity and the orchestration recognise the repeat.
 */
export function requestId(instanceId: string, executionId: string, taskId: number): string {
  const hex = createHash('sha256').update(`${instanceId}/${executionId}/${taskId}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The id of the message carrying the response to a request: one per request, however often sent. */
export function responseMessageId(request: string): string {
  return `${request}:response`;
}

/** The extension's ResponseMessage: the operation's result as JSON text, or the failure. */
export interface ResponseMessage {
  result: string | null;
  exceptionType?: string;
}

/** A request held until the ones its sender sent before it have been applied. */
export interface WaitingRequest {
  messageId: string;
  request: RequestMessage;
  heldAt: number;
}

/**
 * What the runtime persists for an entity (the instance row's input): the entity's own state
 * and the bookkeeping that makes its message handling exactly-once and ordered per sender.
 */
export interface EntitySchedulerState {
  exists: boolean;
  /** JSON text of the entity's state. */
  state?: string;
  /** Per sender: the position of the last request applied, and when (ms since the epoch). */
  senders: Record<string, { last: number; at: number }>;
  /** Client signals applied recently, by message id, and when. */
  recent: Record<string, number>;
  waiting: WaitingRequest[];
  /** Signals this entity sent, per target entity: how many, and when the last was sent. */
  sent: Record<string, { count: number; at: string }>;
  /** The orchestration whose critical section holds this entity, if one does. */
  lockedBy?: string;
  /** Requests from others, held in order until the lock is released. */
  queue: ArrivedRequest[];
}

const schedulerStateSchema = z.object({
  exists: z.boolean(),
  state: z.string().optional(),
  senders: z.record(z.string(), z.object({ last: z.number().int(), at: z.number() })),
  recent: z.record(z.string(), z.number()),
  waiting: z.array(z.object({ messageId: z.string(), request: requestMessageSchema, heldAt: z.number() })),
  sent: z.record(z.string(), z.object({ count: z.number().int(), at: z.string() })),
  lockedBy: z.string().optional(),
  queue: z.array(z.object({ messageId: z.string(), request: requestMessageSchema })).default([]),
});

export function emptySchedulerState(): EntitySchedulerState {
  return { exists: false, senders: {}, recent: {}, waiting: [], sent: {}, queue: [] };
}

export function parseSchedulerState(text: string | null): EntitySchedulerState {
  if (text === null || text === '') return emptySchedulerState();
  return schedulerStateSchema.parse(JSON.parse(text));
}

/**
 * How long the entity remembers a sender or a client signal. Repeats come from redelivery after a
 * lease lapses (minutes), so an hour is ample; a sender quiet for longer starts afresh.
 */
export const SENDER_MEMORY_MS = 60 * 60 * 1000;

/** A request that arrived, as the entity's inbox sees it. */
export interface ArrivedRequest {
  messageId: string;
  request: RequestMessage;
}

/**
 * Admits arrived requests into an entity's sequence: drops repeats, holds requests whose
 * predecessors from the same sender have not arrived, and returns those to run now, in order.
 * Mutates `scheduler` (the bookkeeping is committed with the batch's outcome).
 */
export function admitRequests(
  scheduler: EntitySchedulerState,
  arrived: ArrivedRequest[],
  now: number,
): { ready: ArrivedRequest[]; duplicates: number } {
  const ready: ArrivedRequest[] = [];
  let duplicates = 0;
  const held = (sender: string, seq: number) =>
    scheduler.waiting.some((w) => w.request.sender === sender && w.request.seq === seq);

  const releaseSuccessors = (sender: string) => {
    for (;;) {
      const entry = scheduler.senders[sender]!;
      const index = scheduler.waiting.findIndex(
        (w) => w.request.sender === sender && w.request.seq === entry.last + 1,
      );
      if (index < 0) return;
      const [next] = scheduler.waiting.splice(index, 1);
      entry.last += 1;
      entry.at = now;
      ready.push({ messageId: next!.messageId, request: next!.request });
    }
  };

  for (const item of arrived) {
    const { request } = item;
    if (request.sender === undefined || request.seq === undefined) {
      if (scheduler.recent[item.messageId] !== undefined) {
        duplicates++;
        continue;
      }
      scheduler.recent[item.messageId] = now;
      ready.push(item);
      continue;
    }
    const sender = request.sender;
    const entry = scheduler.senders[sender];
    if ((entry && request.seq <= entry.last) || held(sender, request.seq)) {
      duplicates++;
      continue;
    }
    const predecessorGone =
      request.seq === 1 ||
      request.prevSentAt === undefined ||
      now - Date.parse(request.prevSentAt) > SENDER_MEMORY_MS;
    if (entry ? request.seq === entry.last + 1 : predecessorGone) {
      scheduler.senders[sender] = { last: request.seq, at: now };
      ready.push(item);
      releaseSuccessors(sender);
    } else {
      scheduler.waiting.push({ messageId: item.messageId, request, heldAt: now });
    }
  }

  // A predecessor that never came (its sender was purged mid-send) must not block the rest forever.
  for (;;) {
    const late = scheduler.waiting
      .filter((w) => now - w.heldAt > SENDER_MEMORY_MS)
      .sort((a, b) => (a.request.seq ?? 0) - (b.request.seq ?? 0))[0];
    if (!late) break;
    scheduler.waiting.splice(scheduler.waiting.indexOf(late), 1);
    const sender = late.request.sender!;
    scheduler.senders[sender] = { last: late.request.seq!, at: now };
    ready.push({ messageId: late.messageId, request: late.request });
    releaseSuccessors(sender);
  }

  for (const [sender, entry] of Object.entries(scheduler.senders)) {
    if (now - entry.at > SENDER_MEMORY_MS) delete scheduler.senders[sender];
  }
  for (const [id, at] of Object.entries(scheduler.recent)) {
    if (now - at > SENDER_MEMORY_MS) delete scheduler.recent[id];
  }
  return { ready, duplicates };
}

/** One operation's outcome, as durable-functions' Entity reports it. */
export interface OperationResult {
  isError: boolean;
  /** JSON text of the value returned, or of the error thrown. */
  result?: string;
}

/** A signal an entity's operation sent to another entity. */
export interface EntitySignal {
  target: EntityId;
  name: string;
  /** JSON text of the input, or empty for none. */
  input: string;
}

/** What one run of an entity function over a batch produced (durable-functions' EntityState). */
export interface EntityBatchResult {
  entityExists: boolean;
  entityState?: string;
  results: OperationResult[];
  signals: EntitySignal[];
}

const entityBatchResultSchema = z.object({
  entityExists: z.boolean(),
  entityState: z.string().optional().nullable(),
  results: z.array(z.looseObject({ isError: z.boolean(), result: z.string().optional().nullable() })),
  signals: z.array(
    z.looseObject({
      target: z.looseObject({ name: z.string().min(1), key: z.string().min(1) }),
      name: z.string(),
      input: z.string().optional().nullable(),
    }),
  ),
});

/** Reads an entity function's return value, or says why it is not an entity batch result. */
export function parseEntityBatchResult(value: unknown): EntityBatchResult | string {
  const parsed = entityBatchResultSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `the entity function did not return an entity state (${issue ? `${issue.path.join('.') || 'value'}: ${issue.message}` : 'unreadable'}); is it registered with df.app.entity?`;
  }
  const r = parsed.data;
  return {
    entityExists: r.entityExists,
    ...(typeof r.entityState === 'string' ? { entityState: r.entityState } : {}),
    results: r.results.map((x) => ({
      isError: x.isError,
      ...(typeof x.result === 'string' ? { result: x.result } : {}),
    })),
    signals: r.signals.map((s) => ({
      target: { name: s.target.name, key: s.target.key },
      name: s.name,
      input: s.input ?? '',
    })),
  };
}

/**
 * The response an operation's caller gets, as the extension builds it for an out-of-process
 * entity: the result text as the function reported it, marked `Error` when the operation threw.
 */
export function responseFor(result: OperationResult): ResponseMessage {
  return result.isError
    ? { result: result.result ?? null, exceptionType: 'Error' }
    : { result: result.result ?? null };
}

import { z } from 'zod';
import type { HistoryEvent } from './history.js';

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

/** What a session sends: an activity to run, or an event for an instance (maybe delayed). */
export type Outbound =
  | { kind: 'activity'; item: ActivityWorkItem }
  | { kind: 'control'; message: ControlMessage; visibleAt?: number };

/**
 * A control-queue message: one or more history events for one instance. Activity completions
 * travel several to a message, which spares the queue most of its sends and deletes.
 */
export interface ControlEnvelope {
  id: string;
  instanceId: string;
  executionId?: string;
  events: HistoryEvent[];
}

/** A work-item-queue message: up to a hundred activities scheduled in one episode. */
export interface WorkItemBundle {
  id: string;
  items: ActivityWorkItem[];
}

const historyEventSchema = z.looseObject({
  EventType: z.number().int().min(0).max(20),
  EventId: z.number().int(),
  Timestamp: z.string(),
  IsPlayed: z.boolean().optional(),
});

const controlEnvelopeSchema = z.object({
  id: z.string().min(1),
  instanceId: z.string().min(1),
  executionId: z.string().optional(),
  events: z.array(historyEventSchema).min(1),
});

const workItemSchema = z.object({
  id: z.string().min(1),
  instanceId: z.string().min(1),
  executionId: z.string(),
  name: z.string(),
  taskScheduledId: z.number().int().min(0),
  input: z.string().nullable(),
  attempt: z.number().int().min(1),
});

const bundleSchema = z.object({ id: z.string().min(1), items: z.array(workItemSchema).min(1) });

export function parseControlEnvelope(value: unknown): ControlEnvelope {
  const parsed = controlEnvelopeSchema.parse(value);
  return { ...parsed, events: parsed.events.map((e) => ({ IsPlayed: false, ...e }) as HistoryEvent) };
}

export function parseWorkItemBundle(value: unknown): WorkItemBundle {
  return bundleSchema.parse(value);
}

/** The logical messages in an envelope; each keeps an id that is stable across redeliveries. */
export function expandEnvelope(envelope: ControlEnvelope): ControlMessage[] {
  return envelope.events.map((event, index) => ({
    id: `${envelope.id}#${index}`,
    instanceId: envelope.instanceId,
    ...(envelope.executionId ? { executionId: envelope.executionId } : {}),
    event,
  }));
}

/** Which control queue an instance belongs to (FNV-1a over its id, as stable as DTFx's hash). */
export function partitionOf(instanceId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < instanceId.length; i++) {
    hash ^= instanceId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

/** Instance ids become table keys and URL segments; these characters are refused in both. */
export function instanceIdProblem(instanceId: string): string | undefined {
  if (instanceId.length === 0) return 'the instance id is empty';
  if (instanceId.length > 256) return 'the instance id is longer than 256 characters';
  const control = [...instanceId].some((ch) => {
    const code = ch.charCodeAt(0);
    return code < 0x20 || (code >= 0x7f && code <= 0x9f);
  });
  if (control || /[/\\#?]/.test(instanceId)) {
    return 'the instance id contains "/", "\\", "#", "?" or a control character';
  }
  if (instanceId.startsWith('@')) return 'instance ids starting with "@" are reserved for entities';
  return undefined;
}

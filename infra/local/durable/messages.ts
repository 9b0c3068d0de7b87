import { z } from 'zod';
import type { ActivityWorkItem, ControlMessage } from './episode.js';
import type { HistoryEvent } from './history.js';

const historyEventSchema = z.looseObject({
  EventType: z.number().int().min(0).max(20),
  EventId: z.number().int(),
  Timestamp: z.string(),
  IsPlayed: z.boolean().optional(),
});

const controlMessageSchema = z.object({
  id: z.string().min(1),
  instanceId: z.string().min(1),
  executionId: z.string().optional(),
  event: historyEventSchema,
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

export function parseControlMessage(value: unknown): ControlMessage {
  const parsed = controlMessageSchema.parse(value);
  return { ...parsed, event: { IsPlayed: false, ...parsed.event } as HistoryEvent };
}

export function parseWorkItem(value: unknown): ActivityWorkItem {
  return workItemSchema.parse(value);
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

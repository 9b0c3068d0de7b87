import { z } from 'zod';
import { EventType, type HistoryEvent } from './history.js';
import type { Outbox } from './outbox.js';
import type { OrchestrationState, ScheduledTask } from './state.js';

/** The activity name the extension schedules a durable HTTP call under. */
export const BUILTIN_HTTP_ACTIVITY = 'BuiltIn::HttpActivity';

/** What `context.df.callHttp` sends (durable-functions' DurableHttpRequest). */
const durableHttpRequestSchema = z.object({
  method: z.string().min(1),
  uri: z.string().url(),
  content: z.string().nullish(),
  headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])).nullish(),
  tokenSource: z.unknown().optional(),
  asynchronousPatternEnabled: z.boolean().optional(),
});

/** What the orchestration gets back (durable-functions' DurableHttpResponse). */
export interface DurableHttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  content: string;
}

/**
 * Makes one durable HTTP request, as the extension's built-in HTTP activity does. The polling of
 * a 202 with a Location is the SDK's own (it replays the timers and follow-up calls itself under
 * replay schema 3), so each call here is one request, redirects not followed, the answer whole.
 */
export async function callDurableHttp(input: string | null, timeoutMs: number): Promise<DurableHttpResponse> {
  const request = durableHttpRequestSchema.parse(JSON.parse(input ?? 'null'));
  if (request.tokenSource) {
    throw new Error(
      'callHttp with a tokenSource needs a managed identity, which the embedded runtime does not have; send the token in headers instead',
    );
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  const response = await fetch(request.uri, {
    method: request.method.toUpperCase(),
    headers,
    ...(request.content !== undefined && request.content !== null ? { body: request.content } : {}),
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  const answerHeaders: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    // The extension keeps headers as they were sent; the SDK looks them up case-insensitively.
    answerHeaders[name] = value;
  });
  return { statusCode: response.status, headers: answerHeaders, content: await response.text() };
}

/** How long to wait before polling a 202 that gives no Retry-After (the extension's default). */
export const DEFAULT_HTTP_POLL_MS = 30_000;

/** The Location to poll, when a completed durable HTTP call answered 202 and polling is on. */
function pollTarget(
  event: HistoryEvent,
  task: ScheduledTask,
): { location: string; delayMs: number } | undefined {
  if (
    event.EventType !== EventType.TaskCompleted ||
    task.kind !== 'activity' ||
    task.name !== BUILTIN_HTTP_ACTIVITY
  )
    return undefined;
  try {
    const request = JSON.parse(task.input ?? 'null') as { asynchronousPatternEnabled?: boolean } | null;
    if (request?.asynchronousPatternEnabled === false) return undefined;
    const response = JSON.parse(event.Result ?? 'null') as DurableHttpResponse | null;
    if (response?.statusCode !== 202) return undefined;
    const header = (name: string) =>
      Object.entries(response.headers ?? {}).find(([key]) => key.toLowerCase() === name)?.[1];
    const location = header('location');
    if (!location) return undefined;
    const seconds = Number(header('retry-after'));
    return {
      location,
      delayMs: Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : DEFAULT_HTTP_POLL_MS,
    };
  } catch {
    return undefined;
  }
}

/** Whether applying `event` makes the runtime add tasks of its own (a poll of a 202), as the SDK does. */
export function startsHttpPoll(event: HistoryEvent, task: ScheduledTask): boolean {
  return pollTarget(event, task) !== undefined;
}

/**
 * A durable HTTP call answered 202 with a Location: as the extension does, wait (its Retry-After,
 * else 30 s) and GET the Location with the same headers. The SDK numbers that timer and call when
 * it reads the 202 (CallHttpWithPollingTask), so both ids are taken now, in that order; the call is
 * made when the timer fires.
 */
export function decideHttpPoll(
  state: OrchestrationState,
  outbox: Outbox,
  event: HistoryEvent,
  task: ScheduledTask,
  now: Date,
): void {
  const target = pollTarget(event, task)!;
  const original = JSON.parse(task.input ?? 'null') as { headers?: unknown; tokenSource?: unknown } | null;
  const timerId = state.nextEventId;
  const fireAt = new Date(now.getTime() + target.delayMs);
  state.append({
    EventType: EventType.TimerCreated,
    EventId: timerId,
    IsPlayed: false,
    Timestamp: now.toISOString(),
    FireAt: fireAt.toISOString(),
    PollOf: task.eventId,
    PollTask: timerId + 1,
  });
  outbox.timer(timerId, fireAt);
  state.append({
    EventType: EventType.TaskScheduled,
    EventId: timerId + 1,
    IsPlayed: false,
    Timestamp: now.toISOString(),
    Name: BUILTIN_HTTP_ACTIVITY,
    Input: JSON.stringify({
      method: 'GET',
      uri: target.location,
      ...(original?.headers ? { headers: original.headers } : {}),
      asynchronousPatternEnabled: true,
    }),
    PollOf: task.eventId,
    Attempt: 1,
  });
}

/** A poll timer fired: make the call it was waiting for. */
export function sendHttpPoll(state: OrchestrationState, outbox: Outbox, timer: ScheduledTask): void {
  const call = state.scheduled.get(timer.pollTask!);
  if (call) outbox.activity(BUILTIN_HTTP_ACTIVITY, call.input ?? null, call.eventId, 1);
}

import { bodyChunks } from '../../client/body.js';
/** One Server-Sent Event as read off the wire. */
export interface SseEvent {
  id: string;
  event: string;
  data: { id: string; type: string; data: Record<string, unknown> & { status?: string; taskId?: string } };
}

/**
 * Reads a `text/event-stream` body as a user's client would: events as they arrive, comments
 * counted, until the server ends the stream or the connection breaks (which `done` reports).
 * Pass the request's `signal` when the test cuts the connection itself.
 */
export function readEventStream(
  response: Response,
  onEvent?: (event: SseEvent) => void,
  signal?: AbortSignal,
): {
  events: SseEvent[];
  comments: string[];
  retry: number | undefined;
  done: Promise<'ended' | 'broken'>;
} {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const state = { events, comments, retry: undefined as number | undefined };
  const done = (async (): Promise<'ended' | 'broken'> => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of bodyChunks(response.body, signal)) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else {
              const colon = line.indexOf(':');
              fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, '');
            }
          }
          if (fields.retry !== undefined) state.retry = Number(fields.retry);
          if (fields.data !== undefined) {
            const event: SseEvent = {
              id: fields.id ?? '',
              event: fields.event ?? 'message',
              data: JSON.parse(fields.data) as SseEvent['data'],
            };
            events.push(event);
            onEvent?.(event);
          }
        }
      }
      return 'ended';
    } catch {
      return 'broken';
    }
  })();
  return Object.assign(state, { done });
}

/**
 * Follows a job's stream to its end through breaks, reconnecting with the last event id as
 * EventSource does; returns every event received, in arrival order, with the number of
 * connections it took.
 */
export async function followJob(
  open: (lastEventId?: string) => Promise<Response>,
  options: { timeoutMs?: number; onEvent?: (event: SseEvent) => void } = {},
): Promise<{ events: SseEvent[]; connections: number }> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const all: SseEvent[] = [];
  let connections = 0;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`the stream did not end within ${options.timeoutMs} ms`);
    let response: Response;
    try {
      response = await open(all.at(-1)?.id);
    } catch {
      // The service is restarting: try again shortly, as EventSource would after `retry`.
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    if (response.status === 503) {
      await response.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    if (response.status !== 200)
      throw new Error(`the stream answered ${response.status}: ${await response.text()}`);
    connections++;
    await readEventStream(response, (event) => {
      all.push(event);
      options.onEvent?.(event);
    }).done;
    const last = all.filter((e) => e.event === 'job.status.changed').at(-1);
    if (last && ['FINISHED', 'FAILED', 'CANCELLED'].includes(String(last.data.data.status))) {
      return { events: all, connections };
    }
  }
}

import { useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { HistoryEntry, Job, JobEvent, Task, TaskStatus } from '../../../client/index.js';
import { client } from '../api.js';
import { withEvent } from '../jobEvents.js';

/** Every task of a job, read page by page, then kept current by the job's event stream. */
export interface LiveTasks {
  tasks: Task[];
  /** All pages have been read. */
  complete: boolean;
  error: unknown;
}

/** A task as an event tells it, from what was known of it. */
function withTaskEvent(
  old: Task | undefined,
  event: Extract<JobEvent, { event: 'task.status.changed' }>,
): Task {
  const change = event.data.data;
  const at = event.data.time;
  return {
    id: change.taskId,
    status: change.status,
    attempt: change.attempt,
    ...(change.exitCode !== undefined ? { exitCode: change.exitCode } : {}),
    ...(change.failure ? { failure: change.failure } : {}),
    ...(old?.startedAt ? { startedAt: old.startedAt } : {}),
    ...(change.status === 'RUNNING' ? { startedAt: at } : {}),
    ...(['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'].includes(change.status) ? { endedAt: at } : {}),
    updatedAt: at,
  };
}

/** The history with a status change added, once. */
function withHistoryEvent(
  history: HistoryEntry[] | undefined,
  event: Extract<JobEvent, { event: 'job.status.changed' }>,
): HistoryEntry[] | undefined {
  const entry = event.data.data;
  if (!history || history.some((h) => h.sequence === entry.sequence)) return history;
  return [
    ...history,
    {
      sequence: entry.sequence,
      status: entry.status,
      ...(entry.previousStatus ? { previousStatus: entry.previousStatus } : {}),
      ...(entry.condition ? { condition: entry.condition } : {}),
      message: entry.message,
      at: event.data.time,
      taskCounts: entry.taskCounts,
    },
  ];
}

/** Every task of a job, page by page: a small first page puts rows on screen soonest. */
async function readTaskPages(
  id: string,
  signal: AbortSignal,
  onPage: (tasks: Task[], last: boolean) => void,
): Promise<void> {
  let continuation: string | undefined;
  let first = true;
  do {
    const page = await client.jobs.tasks(id, {
      limit: first ? 100 : 1000,
      ...(continuation ? { continuation } : {}),
    });
    if (signal.aborted) return;
    continuation = page.continuation;
    onPage(page.items, !continuation);
    first = false;
  } while (continuation);
}

/**
 * Follows job `id` live: its record and history in the query cache, its tasks in state, all moved
 * by the job's event stream (no polling). The stream replays from the start, so nothing that
 * happened between the first reads and the stream opening is missed; replayed changes already
 * read are applied again, which leaves them as they were.
 */
export function useJobLive(id: string): LiveTasks {
  const queries = useQueryClient();
  const byId = useRef(new Map<string, Task>());
  const [state, setState] = useState<LiveTasks>({ tasks: [], complete: false, error: undefined });
  const publish = useCallback(
    (complete?: boolean, error?: unknown) =>
      setState((old) => ({
        tasks: [...byId.current.values()],
        complete: complete ?? old.complete,
        error: error ?? old.error,
      })),
    [],
  );

  useEffect(() => {
    const apply = (event: JobEvent) => {
      if (event.event === 'task.status.changed') {
        const change = event.data.data;
        byId.current.set(change.taskId, withTaskEvent(byId.current.get(change.taskId), event));
        return;
      }
      const change = event.data.data;
      reconcile(change.taskCounts);
      queries.setQueryData<Job>(['job', id], (job) => job && withEvent(job, event));
      if (event.event === 'job.status.changed') {
        queries.setQueryData<HistoryEntry[]>(['job', id, 'history'], (history) =>
          withHistoryEvent(history, event),
        );
      }
    };
    const stop = new AbortController();
    byId.current = new Map();
    setState({ tasks: [], complete: false, error: undefined });
    // A task read is kept unless the map already holds a newer word on it (from the stream).
    const keep = (task: Task) => {
      const old = byId.current.get(task.id);
      if (!old || old.updatedAt <= task.updatedAt) byId.current.set(task.id, task);
    };
    let reading: Promise<void> | undefined;
    let lastRead = 0;
    const readAll = () =>
      (reading ??= (async () => {
        try {
          let shown = -Infinity;
          await readTaskPages(id, stop.signal, (tasks, last) => {
            tasks.forEach(keep);
            // Shown in batches rather than one render per page.
            if (last || performance.now() - shown > 250) {
              shown = performance.now();
              publish(last);
            }
          });
        } catch (error) {
          if (!stop.signal.aborted) publish(false, error);
        } finally {
          lastRead = performance.now();
          reading = undefined;
        }
      })());
    /**
     * Task changes made before the job was watched were not logged, so the stream cannot tell
     * them; its counts can. While the tasks shown disagree with the latest counts, read the tasks
     * again, waiting twice as long each time they still disagree (2 s, 4 s, … a minute).
     */
    let latest: Partial<Record<TaskStatus, number>> | undefined;
    let backoff = 2000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const disagree = () => {
      if (!latest) return false;
      const shown: Partial<Record<TaskStatus, number>> = {};
      for (const task of byId.current.values()) shown[task.status] = (shown[task.status] ?? 0) + 1;
      return Object.entries(latest).some(([status, n]) => (shown[status as TaskStatus] ?? 0) !== n);
    };
    const reconcile = (counts?: Partial<Record<TaskStatus, number>>) => {
      if (counts) latest = counts;
      if (reading || timer || stop.signal.aborted) return;
      if (!disagree()) {
        backoff = 2000;
        return;
      }
      timer = setTimeout(
        () => {
          timer = undefined;
          void readAll().then(() => reconcile());
        },
        Math.max(0, backoff - (performance.now() - lastRead)),
      );
      backoff = Math.min(60_000, backoff * 2);
    };
    stop.signal.addEventListener('abort', () => clearTimeout(timer));
    void readAll();
    void (async () => {
      try {
        let queued = false;
        for await (const event of client.jobs.events(id, { signal: stop.signal })) {
          apply(event);
          if (!queued) {
            queued = true;
            // Changes come in bursts: one render for each burst.
            requestAnimationFrame(() => {
              queued = false;
              publish();
            });
          }
        }
      } catch {
        // Stopped by leaving the page, or refused: the job's own query says why.
      }
    })();
    return () => stop.abort();
  }, [id, queries, publish]);

  return state;
}

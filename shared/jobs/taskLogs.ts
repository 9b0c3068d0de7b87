import { setTimeout as sleep } from 'node:timers/promises';
import type { ComputeBackend } from '../compute/compute.js';
import type { BlobContainer } from '../store/blobStore.js';

/** What following a task's log reads. */
export interface TaskLogSources {
  compute: Pick<ComputeBackend, 'getTask' | 'readTaskFile'>;
  /** The container and blob name Batch uploads the log to when an attempt ends. */
  uploaded: { container: BlobContainer; name: string };
  jobId: string;
  taskId: string;
  /** `stdout.txt` or `stderr.txt`, or an attempt's `stdout-<n>.txt`. */
  file: string;
  /**
   * For a task that logs each attempt apart: the attempt running now (read from its node), and
   * the file of an attempt, so the follower goes on to each new attempt's log from its start.
   */
  attempts?: { current: () => Promise<number | undefined>; file: (attempt: number) => string };
  /** The byte to start at: what the reader already has (0 unless given). */
  from?: number;
}

/** How a follower waits. */
export interface FollowTiming {
  /** Between reads of a running task's log; 500 ms unless given. */
  pollMs?: number;
  /** How long an ended task's upload may take to appear before the node's copy is used; 60 s. */
  uploadWaitMs?: number;
  signal?: AbortSignal;
}

/**
 * A task's log as it grows: read from the task's node by byte range while it runs (as Batch
 * serves it), then, once the task has ended, the rest from the uploaded blob starting at the
 * byte where the node reads stopped, so nothing is sent twice or missed at the switch. A task
 * retried on Batch starts a new log: the follower goes on with the new attempt's from its start.
 * Ends when the task has ended and its log has been sent whole.
 */
export async function* followTaskLog(
  sources: TaskLogSources,
  timing: FollowTiming = {},
): AsyncGenerator<Uint8Array> {
  const pollMs = timing.pollMs ?? 500;
  let sent = sources.from ?? 0;
  let attempt: number | undefined;
  let logged = sources.attempts ? Number(/-(\d+)\.txt$/.exec(sources.file)?.[1] ?? 0) : undefined;
  for (;;) {
    if (timing.signal?.aborted) return;
    const task = await sources.compute.getTask(sources.jobId, sources.taskId);
    if (sources.attempts && logged !== undefined) {
      const now = await sources.attempts.current();
      if (now !== undefined && now > logged) {
        sources = {
          ...sources,
          file: sources.attempts.file(now),
          uploaded: {
            ...sources.uploaded,
            name: sources.uploaded.name.replace(/[^/]+$/, sources.attempts.file(now)),
          },
        };
        logged = now;
        sent = 0;
      }
    } else {
      if (task && attempt !== undefined && task.retryCount !== attempt) sent = 0;
      if (task) attempt = task.retryCount;
    }
    if (task?.state === 'completed') {
      yield* finish(sources, sent, timing);
      return;
    }
    if (task?.state === 'running' || task?.state === 'preparing') {
      const stream = await fromNode(sources, sent, timing.signal);
      if (stream) {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          sent += chunk.length;
          yield chunk;
        }
      }
    }
    await sleep(pollMs, undefined, timing.signal ? { signal: timing.signal } : {}).catch(() => undefined);
  }
}

/** The rest of an ended task's log, from byte `sent`: the upload, or the node's copy if none comes. */
async function* finish(
  sources: TaskLogSources,
  sent: number,
  timing: FollowTiming,
): AsyncGenerator<Uint8Array> {
  const deadline = Date.now() + (timing.uploadWaitMs ?? 60_000);
  for (;;) {
    const upload = await sources.uploaded.container.download(sources.uploaded.name, sent);
    if (upload) {
      yield* upload.stream as AsyncIterable<Buffer>;
      return;
    }
    if (Date.now() >= deadline || timing.signal?.aborted) break;
    await sleep(timing.pollMs ?? 500, undefined, timing.signal ? { signal: timing.signal } : {}).catch(
      () => undefined,
    );
  }
  // Batch could not upload it (a storage failure is the task's failure to upload): the node's copy.
  const stream = await fromNode(sources, sent, timing.signal);
  if (stream) yield* stream as AsyncIterable<Buffer>;
}

/** The task's file on its node from byte `from`, if the node has it. */
function fromNode(sources: TaskLogSources, from: number, signal?: AbortSignal) {
  return sources.compute.readTaskFile(sources.jobId, sources.taskId, sources.file, from, signal);
}

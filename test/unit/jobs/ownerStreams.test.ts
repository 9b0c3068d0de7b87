import { describe, expect, it } from 'vitest';
import { OwnerStreams } from '../../../shared/jobs/ownerStreams.js';
import type { Caller } from '../../../shared/identity.js';
import { MemoryJobStore } from '../../support/memoryStores.js';
import { waitFor } from '../../support/waitFor.js';

const alice: Caller = { owner: 'alice', admin: false, via: 'token' };

async function job(store: MemoryJobStore, id: string, owner: string, tasks: string[]) {
  await store.createJob({
    id,
    owner,
    spec: { name: id, tasks: tasks.map((t) => ({ id: t, command: 'true' })) },
    name: id,
    pool: 'default',
    tags: {},
    taskCount: tasks.length,
    at: new Date().toISOString(),
  });
  await store.putTasks(
    id,
    tasks.map((t) => ({ id: t, status: 'QUEUED' as const })),
  );
}

/** Reads a stream in the background: the `job.progress` events, as `<job> <succeeded>/<total>`. */
function progress(stream: AsyncIterable<string>) {
  const seen: string[] = [];
  const done = (async () => {
    for await (const chunk of stream) {
      for (const [, data] of chunk.matchAll(/^event: job\.progress\ndata: (.*)$/gm)) {
        const event = JSON.parse(data!) as {
          data: { jobId: string; taskCount: number; taskCounts: Record<string, number> };
        };
        seen.push(`${event.data.jobId} ${event.data.taskCounts.SUCCEEDED}/${event.data.taskCount}`);
      }
    }
  })();
  return { seen, done };
}

describe('the owner stream’s progress of unfinished jobs', () => {
  it('should tell each job’s counts when they move, from one read shared by the owner’s streams', async () => {
    const store = new MemoryJobStore();
    await job(store, 'big', 'alice', ['a', 'b', 'c']);
    await job(store, 'theirs', 'bob', ['a']);
    let reads = 0;
    const counts = store.taskCounts.bind(store);
    store.taskCounts = (id: string) => {
      reads++;
      return counts(id);
    };
    const streams = new OwnerStreams({
      store,
      heartbeatMs: 10_000,
      maxStreamMs: 1500,
      pollMs: 20,
      progressMs: 100,
    });
    const readers = await Promise.all(
      [1, 2, 3].map(async () => progress(await streams.open(alice, {}, undefined))),
    );
    await waitFor(() => (readers.every((r) => r.seen.length === 1) ? true : undefined));
    await store.updateTasks('big', [
      { id: 'a', status: 'SUCCEEDED', attempt: 1, at: new Date().toISOString() },
    ]);
    await waitFor(() => (readers.every((r) => r.seen.length === 2) ? true : undefined));
    await Promise.all(readers.map((r) => r.done));
    for (const r of readers) expect(r.seen).toEqual(['big 0/3', 'big 1/3']);
    // Three streams over 1.5 s at one read per 100 ms: reads are shared, not made per stream.
    expect(reads).toBeLessThanOrEqual(17);
  });
});

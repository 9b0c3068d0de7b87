import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../../infra/local/batch/journal.js';

describe('the local Batch journal', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  const fresh = async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'journal-'));
    dirs.push(dir);
    return dir;
  };

  it('should lose no record appended while it compacts, and write none to a closed file', async () => {
    const dir = await fresh();
    const journal = new Journal<{ n: number }>(dir);
    await journal.load();
    const state: number[] = [];
    const append = (n: number) => {
      state.push(n);
      return journal.append({ n });
    };
    const before = Array.from({ length: 500 }, (_, i) => append(i));
    await Promise.all(before);
    // Appends before, during and after a compaction, as a busy job makes them.
    const racing: Array<Promise<void>> = [];
    for (let i = 500; i < 1000; i++) racing.push(append(i));
    const compaction = journal.compact(() => ({ upTo: [...state] }));
    for (let i = 1000; i < 1500; i++) racing.push(append(i));
    await Promise.all([compaction, ...racing]);
    for (let i = 1500; i < 1600; i++) await append(i);
    await journal.close();

    const reopened = new Journal<{ n: number }>(dir);
    const { snapshot, records } = await reopened.load();
    await reopened.close();
    const seen = new Set([...(snapshot as { upTo: number[] }).upTo, ...records.map((r) => r.n)]);
    expect(seen.size).toBe(1600);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 1600 }, (_, i) => i));
  });
});

import { createRequire } from 'node:module';
import { runInThisContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOKI_PLANNER } from '../../../infra/local/storage/azuritePreamble.js';

interface Blob {
  accountName: string;
  containerName: string;
  name: string;
  snapshot: string;
  size: number;
}
interface Collection<T> {
  insert(doc: T): T;
  remove(doc: T): void;
  findOne(query: object): (T & { $loki: number }) | null;
  find(query: object): Array<T & { $loki: number }>;
  data: T[];
}
interface LokiModule {
  new (name: string): { addCollection<T>(name: string, options: object): Collection<T> };
  LokiOps: Record<string, (a: unknown, b: unknown) => boolean>;
}

// The planner is handed the very lokijs Azurite loads, as in Azurite's process.
const here = createRequire(import.meta.url);
const Loki = createRequire(here.resolve('azurite/package.json'))('lokijs') as LokiModule;

/** Counts the equality comparisons Loki makes outside its indexes (its scans). */
function comparisons<T>(run: () => T): { result: T; count: number } {
  const eq = Loki.LokiOps.$eq!;
  let count = 0;
  Loki.LokiOps.$eq = (a, b) => {
    count++;
    return eq(a, b);
  };
  try {
    return { result: run(), count };
  } finally {
    Loki.LokiOps.$eq = eq;
  }
}

function blobs(count: number): Collection<Blob> {
  // As Azurite's LokiBlobMetadataStore declares its blobs collection.
  const blobs = new Loki('planner-test').addCollection<Blob>('$BLOBS_COLLECTION$', {
    indices: ['accountName', 'containerName', 'name', 'snapshot'],
  });
  for (let i = 0; i < count; i++) {
    blobs.insert({
      accountName: 'devstoreaccount1',
      containerName: `jobdata-${i % 3}`,
      name: `job/logs/${Math.floor(i / 2)}/${i % 2 ? 'stderr' : 'stdout'}.txt`,
      snapshot: '',
      size: i,
    });
  }
  return blobs;
}

const lookup = (i: number) => ({
  accountName: 'devstoreaccount1',
  containerName: `jobdata-${i % 3}`,
  name: `job/logs/${Math.floor(i / 2)}/${i % 2 ? 'stderr' : 'stdout'}.txt`,
  snapshot: '',
});

describe("the Loki query planner in Azurite's preamble", () => {
  let unplanned: number;

  beforeAll(() => {
    // Measured before the planner is installed, on the same data, as the comparison it must beat.
    const collection = blobs(20_000);
    unplanned = comparisons(() => collection.findOne(lookup(12_345))).count;
    const installed = (runInThisContext(`(${LOKI_PLANNER})`) as (loki: LokiModule) => boolean)(Loki);
    expect(installed).toBe(true);
  });

  it('looks a blob up through the narrowest index instead of comparing every blob', () => {
    const collection = blobs(20_000);
    const { result, count } = comparisons(() => collection.findOne(lookup(12_345)));
    expect(result?.size).toBe(12_345);
    expect(unplanned).toBeGreaterThan(20_000);
    expect(count).toBeLessThan(10);
  });

  it('finds the same documents as a plain filter, for hits, misses and shared values', () => {
    const collection = blobs(3_000);
    for (let i = 0; i < 3_000; i += 37) {
      expect(collection.findOne(lookup(i))?.size).toBe(i);
    }
    expect(collection.findOne({ ...lookup(5), snapshot: '2026-01-01' })).toBeNull();
    expect(collection.findOne({ ...lookup(5), name: 'nowhere' })).toBeNull();
    const matching = collection.find({ accountName: 'devstoreaccount1', containerName: 'jobdata-1' });
    const expected = collection.data.filter((blob) => blob.containerName === 'jobdata-1');
    expect(matching.map((blob) => blob.size).sort((a, b) => a - b)).toEqual(
      expected.map((blob) => blob.size).sort((a, b) => a - b),
    );
    // Operators other than equality keep Loki's own evaluation.
    const ranged = collection.find({ containerName: 'jobdata-2', size: { $lt: 30 } });
    expect(ranged.map((blob) => blob.size).sort((a, b) => a - b)).toEqual([
      2, 5, 8, 11, 14, 17, 20, 23, 26, 29,
    ]);
  });

  it('stays right as documents are replaced and removed', () => {
    const collection = blobs(2_000);
    for (let i = 0; i < 2_000; i += 3) {
      const doc = collection.findOne(lookup(i))!;
      collection.remove(doc);
      if (i % 2 === 0) collection.insert({ ...lookup(i), size: -i });
    }
    for (let i = 0; i < 2_000; i++) {
      const expected = i % 3 !== 0 ? i : i % 2 === 0 ? -i : undefined;
      expect(collection.findOne(lookup(i))?.size).toBe(expected);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { validateDag, type DagOptions, type DagResult, type DagTask } from '../../../shared/domain/dag.js';
import { prng } from '../../support/prng.js';

type Range = readonly [number, number];
type Spec = readonly [id: string, dependsOn?: readonly string[], ranges?: readonly Range[]];

/** Tasks at `tasks[0]`, `tasks[1]`, … as the submitted document would place them. */
function job(...specs: Spec[]): DagTask[] {
  return jobOf(specs);
}

/** {@link job} for lists too long to spread into arguments. */
function jobOf(specs: readonly Spec[]): DagTask[] {
  return specs.map(([id, dependsOn = [], dependsOnRanges = []], i) => ({
    id,
    path: `tasks[${i}]`,
    dependsOn,
    dependsOnRanges,
  }));
}

const STRING_IDS: DagOptions = { intIds: false, maxEdges: 1_000_000 };
const INT_IDS: DagOptions = { intIds: true, maxEdges: 1_000_000 };

function check(tasks: readonly DagTask[], options: DagOptions = STRING_IDS): DagResult {
  return validateDag(tasks, options);
}

/** Every id a task depends on, ranges walked out (only for test-sized ranges). */
function dependenciesOf(task: DagTask): string[] {
  const ids = [...task.dependsOn];
  for (const [start, end] of task.dependsOnRanges) {
    for (let id = start; id <= end; id++) ids.push(String(id));
  }
  return ids;
}

/** What is wrong with `order` as a topological order of `tasks`; empty when nothing is. */
function orderViolations(tasks: readonly DagTask[], order: readonly string[]): string[] {
  const violations: string[] = [];
  const ids = tasks.map((task) => task.id).sort();
  const sorted = [...order].sort();
  if (ids.length !== sorted.length || ids.some((id, i) => id !== sorted[i])) {
    violations.push('order is not a permutation of the task ids');
  }
  const position = new Map(order.map((id, i) => [id, i]));
  for (const task of tasks) {
    const at = position.get(task.id) ?? -1;
    for (const dep of dependenciesOf(task)) {
      if ((position.get(dep) ?? Infinity) >= at) violations.push(`${task.id} is not after ${dep}`);
    }
  }
  return violations;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/**
 * A random DAG: task k depends only on tasks numbered below k (ids, repeats and, with int ids,
 * ranges), listed in numbering order or shuffled.
 */
function randomDag(seed: number, intIds: boolean, shuffled: boolean): DagTask[] {
  const random = prng(seed);
  const n = 2 + Math.floor(random() * 200);
  const name = (k: number) => (intIds ? String(k) : `t${k}`);
  const specs: Spec[] = [];
  for (let k = 1; k <= n; k++) {
    const dependsOn: string[] = [];
    const ranges: Range[] = [];
    if (k > 1) {
      const count = Math.floor(random() * 4);
      for (let d = 0; d < count; d++) dependsOn.push(name(1 + Math.floor(random() * (k - 1))));
      if (intIds && random() < 0.3) {
        const a = 1 + Math.floor(random() * (k - 1));
        const b = 1 + Math.floor(random() * (k - 1));
        ranges.push([Math.min(a, b), Math.max(a, b)]);
      }
    }
    specs.push([name(k), dependsOn, ranges]);
  }
  return jobOf(shuffled ? shuffle(specs, random) : specs);
}

/** Whether the graph has a cycle, by peeling off tasks whose dependencies are all peeled. */
function hasCycle(tasks: readonly DagTask[]): boolean {
  const left = new Set(tasks.map((task) => task.id));
  for (let progress = true; progress;) {
    progress = false;
    for (const task of tasks) {
      if (left.has(task.id) && dependenciesOf(task).every((dep) => !left.has(dep))) {
        left.delete(task.id);
        progress = true;
      }
    }
  }
  return left.size > 0;
}

function elapsedMs(run: () => void): number {
  const started = performance.now();
  run();
  return performance.now() - started;
}

describe('validateDag', () => {
  const diamond = job(['a'], ['b', ['a']], ['c', ['a']], ['d', ['b', 'c']]);

  it('should accept a diamond and order it', () => {
    expect(check(diamond)).toEqual({ issues: [], order: ['a', 'b', 'c', 'd'], edges: 4 });
  });

  it('should accept an empty job', () => {
    expect(check([])).toEqual({ issues: [], order: [], edges: 0 });
  });

  it('should have a test helper that notices a wrong order', () => {
    expect(orderViolations(diamond, ['a', 'b', 'c', 'd'])).toEqual([]);
    expect(orderViolations(diamond, ['a', 'd', 'b', 'c'])).toEqual(['d is not after b', 'd is not after c']);
    expect(orderViolations(diamond, ['a', 'b', 'c'])).toContain('order is not a permutation of the task ids');
  });

  it.each([
    ['a task after the one it depends on', job(['a'], ['b', ['a']], ['c']), ['a', 'b', 'c']],
    ['a task before the one it depends on', job(['b', ['c']], ['a'], ['c']), ['a', 'c', 'b']],
    ['a join listed first', job(['d', ['a', 'b', 'c']], ['c'], ['b'], ['a']), ['c', 'b', 'a', 'd']],
    ['independent tasks', job(['z'], ['y'], ['x']), ['z', 'y', 'x']],
  ])('should keep input order among tasks ready together: %s', (_case, tasks, order) => {
    expect(check(tasks).order).toEqual(order);
  });

  describe('task ids', () => {
    it('should refuse a duplicate id, naming where it first appeared', () => {
      const result = check(job(['prep'], ['train', ['prep']], ['prep'], ['prep']));
      expect(result.issues).toEqual([
        { path: 'tasks[2].id', message: 'duplicate task id "prep" (first at tasks[0])' },
        { path: 'tasks[3].id', message: 'duplicate task id "prep" (first at tasks[0])' },
      ]);
      expect(result.order).toEqual([]);
    });

    it('should use the path the caller gives', () => {
      const tasks: DagTask[] = [
        { id: '1', path: 'sweep', dependsOn: [], dependsOnRanges: [] },
        { id: '1', path: 'sweep', dependsOn: [], dependsOnRanges: [] },
      ];
      expect(check(tasks, INT_IDS).issues).toEqual([
        { path: 'sweep.id', message: 'duplicate task id "1" (first at sweep)' },
      ]);
    });

    it.each(['1', '42', '100000', String(Number.MAX_SAFE_INTEGER)])('should accept the int id %j', (id) => {
      expect(check(job([id]), INT_IDS).issues).toEqual([]);
    });

    it.each(['01', '-1', '+1', '1.0', '0', '1e3', ' 1', '1 ', '0x1', '', 'one', '١'])(
      'should refuse the int id %j',
      (id) => {
        const result = check(job(['1'], [id]), INT_IDS);
        expect(result.issues).toEqual([
          {
            path: 'tasks[1].id',
            message: expect.stringMatching(/positive integer.*taskIdStyle "int"/) as string,
          },
        ]);
        expect(result.issues[0]!.message).toContain(`"${id}"`);
        expect(result.order).toEqual([]);
      },
    );

    it('should refuse an int id too large to be exact', () => {
      expect(check(job(['9007199254740992']), INT_IDS).issues).toEqual([
        { path: 'tasks[0].id', message: expect.stringMatching(/too large/) as string },
      ]);
    });

    it('should accept any id when ids are not ints', () => {
      expect(check(job(['01'], ['-1', ['01']], ['1.0', ['-1']])).issues).toEqual([]);
    });
  });

  describe('dependencies', () => {
    it('should refuse a dependency on an unknown task, at its index', () => {
      expect(check(job(['a'], ['b', ['a', 'ghost']])).issues).toEqual([
        { path: 'tasks[1].dependsOn[1]', message: 'depends on unknown task "ghost"' },
      ]);
    });

    it('should refuse an int dependency that is not written as the id is', () => {
      expect(check(job(['1'], ['2', ['01']]), INT_IDS).issues).toEqual([
        { path: 'tasks[1].dependsOn[0]', message: 'depends on unknown task "01"' },
      ]);
    });

    it('should name a task depending on itself (a 1-node cycle) once, not as a separate cycle', () => {
      expect(check(job(['x'], ['a', ['x', 'a']])).issues).toEqual([
        { path: 'tasks[1].dependsOn[1]', message: 'depends on itself (cycle: a → a)' },
      ]);
    });

    it('should accept repeated dependencies and count each as declared', () => {
      expect(check(job(['a'], ['b', ['a', 'a']]))).toEqual({ issues: [], order: ['a', 'b'], edges: 2 });
    });
  });

  describe('ranges', () => {
    it.each([
      ['one range', [[1, 1]] as Range[]],
      [
        'two ranges',
        [
          [1, 1],
          [2, 2],
        ] as Range[],
      ],
      ['a malformed range', [[5, 1]] as Range[]],
    ])('should refuse %s when ids are not ints, once', (_case, ranges) => {
      const result = check(job(['1'], ['2'], ['3', [], ranges]));
      expect(result.issues).toEqual([
        { path: 'tasks[2].dependsOnRange', message: 'dependsOnRange needs taskIdStyle "int"' },
      ]);
      expect(result.edges).toBe(0);
    });

    it.each([
      ['start after end', [3, 1], /start ≤ end/],
      ['start just after end', [2, 1], /start ≤ end/],
      ['start 0', [0, 2], /at least 1/],
      ['a negative start', [-1, 2], /at least 1/],
      ['a fraction', [1.5, 2], /whole numbers/],
      ['an infinite end', [1, Infinity], /whole numbers/],
      ['NaN', [NaN, 2], /whole numbers/],
    ] as const)('should refuse a range with %s, not counting it', (_case, range, message) => {
      const result = check(job(['1'], ['2'], ['3', ['1'], [range]]), INT_IDS);
      expect(result.issues).toEqual([
        { path: 'tasks[2].dependsOnRange', message: expect.stringMatching(message) as string },
      ]);
      expect(result.edges).toBe(1);
    });

    it('should accept a range over ids listed in any order', () => {
      const tasks = job(['9', [], [[3, 5]]], ['5'], ['3'], ['4', ['3']]);
      expect(check(tasks, INT_IDS)).toEqual({ issues: [], order: ['5', '3', '4', '9'], edges: 4 });
    });

    it.each([
      [
        'one id',
        job(['1'], ['2'], ['4'], ['5', [], [[1, 4]]]),
        '[1, 4] includes 1 task that does not exist: "3"',
      ],
      [
        'several ids, the first at the start',
        job(['3'], ['4'], ['9', [], [[1, 6]]]),
        '[1, 6] includes 4 tasks that do not exist, the first "1"',
      ],
      [
        'several ids after the existing ones',
        job(['1'], ['2'], ['3'], ['10', [], [[2, 6]]]),
        '[2, 6] includes 3 tasks that do not exist, the first "4"',
      ],
      [
        'ids among a range of 10^12',
        job(['1'], ['2'], ['4'], [String(1e12 + 1), [], [[1, 1e12]]]),
        `[1, 1000000000000] includes ${1e12 - 3} tasks that do not exist, the first "3"`,
      ],
    ])('should refuse a range naming missing tasks: %s', (_case, tasks, message) => {
      const result = check(tasks, { intIds: true, maxEdges: 1e13 });
      expect(result.issues).toEqual([{ path: `tasks[${tasks.length - 1}].dependsOnRange`, message }]);
    });

    it.each([
      [1, [1, 3]],
      [2, [1, 3]],
      [3, [1, 3]],
      [2, [2, 2]],
    ] as const)(
      'should refuse in task %i the range %j, which includes the task itself (a 1-node cycle)',
      (own, range) => {
        const tasks = job(...[1, 2, 3].map((id): Spec => [String(id), [], id === own ? [range] : []]));
        expect(check(tasks, INT_IDS).issues).toEqual([
          {
            path: `tasks[${own - 1}].dependsOnRange`,
            message: `[${range[0]}, ${range[1]}] includes the task itself (cycle: ${own} → ${own})`,
          },
        ]);
      },
    );

    it('should index the range in its path when a task has several', () => {
      const tasks = job(
        ['1'],
        ['2'],
        [
          '3',
          [],
          [
            [1, 2],
            [7, 7],
          ],
        ],
      );
      expect(check(tasks, INT_IDS).issues).toEqual([
        { path: 'tasks[2].dependsOnRange[1]', message: '[7, 7] includes 1 task that does not exist: "7"' },
      ]);
    });
  });

  describe('edge budget', () => {
    it('should accept a job with exactly the most edges allowed', () => {
      expect(check(diamond, { intIds: false, maxEdges: 4 }).issues).toEqual([]);
    });

    it.each([
      ['ids', diamond, { intIds: false, maxEdges: 3 }, 'tasks[3]', 'more than 3 dependencies (4 in all)'],
      [
        'repeated ids',
        job(['a'], ['b', ['a', 'a']]),
        { intIds: false, maxEdges: 1 },
        'tasks[1]',
        '(2 in all)',
      ],
      [
        'a range',
        job(['1'], ['2', ['1']], ['3', ['2'], [[1, 2]]], ['4', ['3']]),
        { intIds: true, maxEdges: 3 },
        'tasks[2]',
        'more than 3 dependencies (5 in all)',
      ],
    ])('should refuse more edges than allowed, counting %s', (_case, tasks, options, path, message) => {
      const result = check(tasks, options);
      expect(result.issues).toEqual([{ path, message: expect.stringContaining(message) as string }]);
      expect(result.issues[0]!.message).toMatch(/^the job declares more than \d+ dependencies/);
      expect(result.order).toEqual([]);
    });

    it('should count a huge range without walking it, and look no further', () => {
      const tasks = job(['1'], ['2', ['ghost'], [[1, 1e15]]], ['3', ['1']]);
      let result: DagResult | undefined;
      expect(elapsedMs(() => (result = check(tasks, { intIds: true, maxEdges: 2_000_000 })))).toBeLessThan(
        2000,
      );
      expect(result!.issues).toEqual([
        {
          path: 'tasks[1]',
          message: `the job declares more than 2000000 dependencies (${1e15 + 2} in all); this task goes over the limit`,
        },
      ]);
    });
  });

  describe('cycles', () => {
    it.each([
      ['2 tasks', job(['a', ['b']], ['b', ['a']]), 'tasks[0].dependsOn', 'dependency cycle: a → b → a'],
      [
        '3 tasks',
        job(['a', ['c']], ['b', ['a']], ['c', ['b']]),
        'tasks[0].dependsOn',
        'dependency cycle: a → c → b → a',
      ],
      [
        '3 tasks entered from a dependent, named from the earliest',
        job(['z', ['b']], ['a', ['c']], ['b', ['a']], ['c', ['b']]),
        'tasks[1].dependsOn',
        'dependency cycle: a → c → b → a',
      ],
      [
        '2 tasks with the same dependency listed twice',
        job(['a', ['b']], ['b', ['a', 'a']]),
        'tasks[0].dependsOn',
        'dependency cycle: a → b → a',
      ],
    ])('should name a cycle of %s in dependency order', (_case, tasks, path, message) => {
      const result = check(tasks);
      expect(result.issues).toEqual([{ path, message }]);
      expect(result.order).toEqual([]);
    });

    it.each([
      [
        'a range back to the first',
        job(['1', ['3']], ['2'], ['3', [], [[1, 2]]]),
        'tasks[0].dependsOn',
        '1 → 3 → 1',
      ],
      [
        'a range from the first',
        job(['1', [], [[2, 3]]], ['2'], ['3', ['1']]),
        'tasks[0].dependsOnRange',
        '1 → 3 → 1',
      ],
      ['ranges only', job(['1', [], [[2, 2]]], ['2', [], [[1, 1]]]), 'tasks[0].dependsOnRange', '1 → 2 → 1'],
      [
        'an id and a range naming the same task',
        job(['1', ['2']], ['2', ['1'], [[1, 1]]]),
        'tasks[0].dependsOn',
        '1 → 2 → 1',
      ],
    ])('should name a cycle through %s', (_case, tasks, path, cycle) => {
      expect(check(tasks, INT_IDS).issues).toEqual([{ path, message: `dependency cycle: ${cycle}` }]);
    });

    it('should report a few cycles, not every one', () => {
      const tasks = job(
        ...Array.from({ length: 10 }, (_, i): Spec[] => [
          [`a${i}`, [`b${i}`]],
          [`b${i}`, [`a${i}`]],
        ]).flat(),
      );
      expect(check(tasks).issues).toEqual(
        Array.from({ length: 5 }, (_, i) => ({
          path: `tasks[${2 * i}].dependsOn`,
          message: `dependency cycle: a${i} → b${i} → a${i}`,
        })),
      );
    });
  });

  describe('reporting', () => {
    it('should report every kind of issue in one job', () => {
      const result = check(job(['a', ['c']], ['a'], ['b', ['ghost']], ['c', ['a']]));
      expect(result.issues).toEqual([
        { path: 'tasks[1].id', message: 'duplicate task id "a" (first at tasks[0])' },
        { path: 'tasks[2].dependsOn[0]', message: 'depends on unknown task "ghost"' },
        { path: 'tasks[0].dependsOn', message: 'dependency cycle: a → c → a' },
      ]);
      expect(result.order).toEqual([]);
    });

    it('should stop at 100 issues, even among 100,000 tasks', () => {
      const tasks = jobOf(Array.from({ length: 100_000 }, (_, i): Spec => [`t${i}`, ['ghost', 'ghost']]));
      let result: DagResult | undefined;
      expect(elapsedMs(() => (result = check(tasks)))).toBeLessThan(2000);
      expect(result!.issues).toHaveLength(100);
      expect(result!.issues.at(-1)).toEqual({
        path: 'tasks[49].dependsOn[1]',
        message: 'depends on unknown task "ghost"',
      });
    });
  });

  describe('order', () => {
    const seeds = Array.from({ length: 20 }, (_, i) => i + 1);

    it.each(seeds.flatMap((seed) => [[seed, false] as const, [seed, true] as const]))(
      'should order a random DAG (seed %i, int ids %s) so every task follows its dependencies',
      (seed, intIds) => {
        const tasks = randomDag(seed, intIds, true);
        const result = check(tasks, intIds ? INT_IDS : STRING_IDS);
        expect(result.issues).toEqual([]);
        expect(orderViolations(tasks, result.order)).toEqual([]);
      },
    );

    it.each(seeds)('should keep a random DAG already in dependency order as it is (seed %i)', (seed) => {
      const tasks = randomDag(seed, true, false);
      expect(check(tasks, INT_IDS).order).toEqual(tasks.map((task) => task.id));
    });

    it.each(seeds)(
      'should find a cycle exactly when a random graph has one, and name a real one (seed %i)',
      (seed) => {
        const random = prng(seed);
        const n = 2 + Math.floor(random() * 30);
        const specs: Spec[] = Array.from({ length: n }, (_, i) => {
          const others = Array.from({ length: Math.floor(random() * 3) }, () => Math.floor(random() * n))
            .filter((j) => j !== i)
            .map(String);
          return [String(i), others];
        });
        const tasks = jobOf(specs);
        const result = check(tasks);
        expect(result.issues.length > 0).toBe(hasCycle(tasks));
        for (const issue of result.issues) {
          const named = issue.message.replace('dependency cycle: ', '').split(' → ');
          const members = named.slice(0, -1);
          expect(named.at(-1)).toBe(named[0]);
          expect(new Set(members).size).toBe(members.length);
          expect(Math.min(...members.map(Number))).toBe(Number(named[0]));
          expect(issue.path).toBe(`tasks[${named[0]}].dependsOn`);
          for (let k = 0; k < members.length; k++) {
            expect(tasks[Number(named[k])]!.dependsOn).toContain(named[k + 1]);
          }
        }
        if (result.issues.length === 0) expect(orderViolations(tasks, result.order)).toEqual([]);
      },
    );
  });

  describe('performance', () => {
    const chain = jobOf(
      Array.from({ length: 100_000 }, (_, i): Spec => [`t${i}`, i > 0 ? [`t${i - 1}`] : []]),
    );
    const reversedChain = jobOf(
      Array.from({ length: 100_000 }, (_, i): Spec => [`t${i}`, i < 99_999 ? [`t${i + 1}`] : []]),
    );
    const gather = jobOf(
      Array.from({ length: 100_000 }, (_, i): Spec => [String(i + 1), [], i === 99_999 ? [[1, 99_999]] : []]),
    );
    const window = jobOf(
      Array.from({ length: 10_000 }, (_, i): Spec => [
        `t${i}`,
        Array.from({ length: Math.min(i, 10) }, (_, k) => `t${i - 1 - k}`),
      ]),
    );

    it.each([
      ['a chain of 100,000 tasks', chain, STRING_IDS, 99_999, chain.map((task) => task.id)],
      [
        'a chain of 100,000 tasks listed backwards',
        reversedChain,
        STRING_IDS,
        99_999,
        reversedChain.map((task) => task.id).reverse(),
      ],
      [
        '100,000 tasks, the last depending on [1, 99999]',
        gather,
        INT_IDS,
        99_999,
        gather.map((task) => task.id),
      ],
      [
        '10,000 tasks each depending on the previous 10',
        window,
        STRING_IDS,
        99_945,
        window.map((task) => task.id),
      ],
    ])('should validate %s quickly', (_case, tasks, options, edges, order) => {
      let result: DagResult | undefined;
      expect(elapsedMs(() => (result = check(tasks, options)))).toBeLessThan(2000);
      expect(result!.issues).toEqual([]);
      expect(result!.edges).toBe(edges);
      expect(result!.order).toEqual(order);
      expect(orderViolations(tasks, result!.order)).toEqual([]);
    });

    it('should name a cycle through 100,000 tasks without overflowing the stack', () => {
      const tasks = jobOf(
        Array.from({ length: 100_000 }, (_, i): Spec => [`t${i}`, [`t${(i + 99_999) % 100_000}`]]),
      );
      let result: DagResult | undefined;
      expect(elapsedMs(() => (result = check(tasks)))).toBeLessThan(2000);
      const names = ['t0', ...Array.from({ length: 9 }, (_, k) => `t${99_999 - k}`)];
      expect(result!.issues).toEqual([
        {
          path: 'tasks[0].dependsOn',
          message: `dependency cycle: ${names.join(' → ')} → … 99989 more … → t1 → t0`,
        },
      ]);
    });
  });
});

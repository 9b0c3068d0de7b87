import fc from 'fast-check';
import { InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { expandJob } from '../../../shared/domain/expand.js';
import { DEFAULT_LIMITS, jobSpecSchema } from '../../../shared/domain/jobSpec.js';
import { isAppError } from '../../../shared/errors.js';
import { problemResponse } from '../../../shared/http/problems.js';
import { parseInput } from '../../../shared/domain/issues.js';

const context = {
  jobId: 'job-1',
  owner: 'alice',
  defaultPool: 'local',
  defaultLogsContainer: 'job-logs',
  limits: { ...DEFAULT_LIMITS, maxTasks: 2000 },
};

/** Text that often looks like what users write, and sometimes like what attackers write. */
const word = fc.oneof(
  fc.constantFrom(
    'a',
    'b',
    'prep',
    'train',
    '1',
    '2',
    '10',
    '../..',
    '/etc',
    '${index}',
    '${nope}',
    '${jobId}',
    '$${x}',
    '${',
    '',
    ' ',
    'blob://data/x',
    'https://h.org/f',
    'results/**',
  ),
  fc.string({ maxLength: 12 }),
);

/** Mostly what a user means, with one field in a few wrong, so both outcomes are explored. */
const often = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
  fc.oneof({ arbitrary: good, weight: 6 }, { arbitrary: bad, weight: 1 });
const id = often(
  fc.constantFrom('1', '2', '3', '4', '5', '6'),
  fc.oneof(word, fc.integer({ min: -2, max: 20 })),
);

/** Usually absent: an optional field a user leaves out more often than not. */
const rarely = <T>(value: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: value, weight: 1 });

const withoutUndefined = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;

const task = fc
  .record({
    id,
    command: often(fc.constantFrom('echo ${taskId}', 'python3 run.py ${threshold}', 'true'), word),
    dependsOn: rarely(fc.array(id, { maxLength: 2 })),
    dependsOnRange: rarely(
      often(
        fc.constant([1, 2]),
        fc.tuple(fc.integer({ min: -1, max: 12 }), fc.integer({ min: -1, max: 12 })),
      ),
    ),
    outputs: fc.array(often(fc.constantFrom('out/**', 'r.json'), word), { maxLength: 2 }),
    inputs: rarely(
      fc.array(
        fc.oneof(
          fc.record(
            {
              source: often(fc.constantFrom('blob://data/x', 'https://h.org/f'), word),
              target: often(fc.constant('in/x'), word),
            },
            { requiredKeys: ['source'] },
          ),
          fc.record({ fromTask: id, path: often(fc.constant('r.json'), word) }),
        ),
        { maxLength: 2 },
      ),
    ),
    retries: rarely(often(fc.integer({ min: 0, max: 3 }), fc.oneof(fc.integer({ min: -1, max: 200 }), word))),
    env: rarely(
      fc.dictionary(
        often(fc.constantFrom('A', 'SEED'), word),
        often(fc.constantFrom('1', '${jobId}'), word),
        { maxKeys: 2 },
      ),
    ),
  })
  .map(withoutUndefined);

const spec = fc.record(
  {
    name: often(fc.constantFrom('job', 'my job', 'sweep-1'), word),
    taskIdStyle: often(fc.constantFrom('string', 'int'), fc.constant('other')),
    parameters: fc.dictionary(
      often(fc.constantFrom('threshold', 'model'), word),
      fc.oneof(word, fc.integer(), fc.boolean()),
      { maxKeys: 3 },
    ),
    env: fc.dictionary(often(fc.constant('B'), word), word, { maxKeys: 2 }),
    outputs: fc.record({ patterns: fc.array(often(fc.constant('results/**'), word), { maxLength: 2 }) }),
    logs: fc.record(
      { container: often(fc.constant('job-logs'), word), folder: often(fc.constant('logs'), word) },
      { requiredKeys: [] },
    ),
    tasks: fc.uniqueArray(task, { minLength: 1, maxLength: 6, selector: (t) => JSON.stringify(t.id) }),
  },
  { requiredKeys: ['name', 'tasks'] },
);

const sweepSpec = fc.record({
  name: often(fc.constant('sweep'), word),
  sweep: fc.record({
    command: often(fc.constant('run ${index}'), word),
    range: fc.tuple(fc.integer({ min: -5, max: 3000 }), fc.integer({ min: -5, max: 3000 })),
  }),
  tasks: fc.option(fc.array(task, { maxLength: 1 }), { nil: undefined, freq: 5 }),
});

const withExtra = fc
  .tuple(spec, fc.string(), fc.anything())
  .map(([body, key, value]) => ({ ...body, [key || 'x']: value }));

let expanded = 0;

describe('random job specs', () => {
  it('should either expand or fail with a problem document naming fields, never crash', () => {
    const ctx = new InvocationContext({
      invocationId: 'prop',
      functionName: 'jobsSubmit',
      logHandler: () => undefined,
    });
    fc.assert(
      fc.property(fc.oneof({ arbitrary: spec, weight: 6 }, sweepSpec, withExtra, fc.anything()), (body) => {
        try {
          const job = expandJob(parseInput(jobSpecSchema, body), context);
          expect(job.tasks.length).toBeGreaterThan(0);
          expect(job.order).toHaveLength(job.tasks.length);
          expanded++;
        } catch (error) {
          // Anything but an AppError would become a 500: that is the crash this test hunts.
          expect(isAppError(error), String((error as Error).stack)).toBe(true);
          const response = problemResponse(error, ctx);
          expect(response.status).toBe(400);
          const document = JSON.parse(response.body as string) as {
            errors?: Array<{ path: string; message: string }>;
          };
          expect(document.errors?.length).toBeGreaterThan(0);
          for (const issue of document.errors ?? []) {
            expect(typeof issue.path).toBe('string');
            expect(issue.message.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 2000, seed: 20261123 },
    );
    // The generator must reach valid specs too, or only half the property is tested.
    expect(expanded).toBeGreaterThan(50);
  });
});

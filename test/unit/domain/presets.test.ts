import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.js';
import { expandJob, type ExpandContext } from '../../../shared/domain/expand.js';
import { DEFAULT_LIMITS, jobSpecSchema } from '../../../shared/domain/jobSpec.js';
import { planBatchJob } from '../../../shared/domain/batchPlan.js';
import { presetSchema } from '../../../shared/domain/presets.js';

const presets = new Map(
  [
    { name: 'small', cpus: 2, memoryGiB: 8, pool: 'cpu', slots: 1 },
    { name: 'wide', cpus: 8, memoryGiB: 32, pool: 'cpu', slots: 4 },
    { name: 'gpu', cpus: 6, memoryGiB: 56, gpus: 1, pool: 'nc6' },
  ].map((p) => [p.name, presetSchema.parse(p)]),
);

const context: ExpandContext = {
  jobId: 'job-1',
  owner: 'alice',
  defaultPool: 'default',
  defaultLogsContainer: 'job-logs',
  limits: DEFAULT_LIMITS,
  presets,
};

const expand = (spec: unknown) => expandJob(jobSpecSchema.parse(spec), context);
const issues = (spec: unknown) => {
  try {
    expand(spec);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  return [];
};

describe('resource presets and task slots', () => {
  it('should place a job by its preset, and give each task the slots its own preset or slots say', () => {
    const job = expand({
      name: 'p',
      preset: 'small',
      tasks: [
        { id: 'a', command: 'a' },
        { id: 'b', command: 'b', preset: 'wide' },
        { id: 'c', command: 'c', slots: 2 },
      ],
    });
    expect(job).toMatchObject({ pool: 'cpu', preset: 'small' });
    expect(job.tasks.map((t) => [t.id, t.slots])).toEqual([
      ['a', undefined],
      ['b', 4],
      ['c', 2],
    ]);
    const plan = planBatchJob(
      'job-1',
      job,
      { containerUrl: (c) => c, blobUrl: (c, p) => `${c}/${p}` },
      {
        dataContainer: 'jobdata-job-1',
        uploads: { container: 'uploads', folder: 'alice/' },
      },
    );
    expect(plan.tasks.map((t) => t.requiredSlots)).toEqual([undefined, 4, 2]);
    // A sweep's tasks all take the preset's slots; without a preset, the default pool and one slot.
    const sweep = expand({ name: 's', preset: 'wide', sweep: { command: 'x', range: [1, 3] } });
    expect(sweep.tasks.map((t) => t.slots)).toEqual([4, 4, 4]);
    expect(expand({ name: 'd', tasks: [{ id: 'a', command: 'a' }] })).toMatchObject({ pool: 'default' });
  });

  it('should name each misuse at its field', () => {
    expect(issues({ name: 'x', preset: 'huge', tasks: [{ id: 'a', command: 'a' }] })).toEqual([
      {
        path: 'preset',
        message: 'there is no preset "huge"; the presets are small, wide, gpu (GET /api/presets)',
      },
    ]);
    expect(issues({ name: 'x', preset: 'small', pool: 'cpu', tasks: [{ id: 'a', command: 'a' }] })).toEqual([
      { path: 'preset', message: 'give pool or preset, not both: a preset names its pool' },
    ]);
    expect(
      issues({
        name: 'x',
        preset: 'small',
        tasks: [
          { id: 'a', command: 'a', preset: 'gpu' },
          { id: 'b', command: 'b', preset: 'wide', slots: 2 },
        ],
      }),
    ).toEqual([
      {
        path: 'tasks[0].preset',
        message: "is on pool nc6, and the job runs on cpu: a job's tasks share its pool",
      },
      { path: 'tasks[1].slots', message: 'give slots or preset, not both: a preset sets slots' },
    ]);
    expect(jobSpecSchema.safeParse({ name: 'x', tasks: [{ id: 'a', command: 'a', slots: 0 }] }).success).toBe(
      false,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.js';
import { expandJob, type ExpandContext } from '../../../shared/domain/expand.js';
import { DEFAULT_LIMITS, jobSpecSchema, resubmitSchema } from '../../../shared/domain/jobSpec.js';
import { planBatchJob } from '../../../shared/domain/batchPlan.js';
import { zodIssues } from '../../../shared/domain/issues.js';

const context = (done: Record<string, string>): ExpandContext => ({
  jobId: 'job-2',
  owner: 'alice',
  defaultPool: 'local',
  defaultLogsContainer: 'job-logs',
  limits: DEFAULT_LIMITS,
  resume: { from: 'job-1', done: new Map(Object.entries(done)) },
});

// prep → train (takes prep's model) → report; lint on its own.
const workflow = jobSpecSchema.parse({
  name: 'wf',
  resumeFrom: 'job-1',
  tasks: [
    { id: 'prep', command: 'make model', outputs: ['model.bin'] },
    { id: 'train', command: 'train', inputs: [{ fromTask: 'prep', path: 'model.bin' }] },
    { id: 'report', command: 'report', dependsOn: ['train'] },
    { id: 'lint', command: 'lint' },
  ],
});

describe('resuming a job from one that ran before', () => {
  it('should run only what did not succeed, reading a done task’s outputs where it wrote them', () => {
    const job = expandJob(workflow, context({ prep: 'job-0', lint: 'job-1' }));
    expect(job.tasks.map((t) => t.id)).toEqual(['train', 'report']);
    expect(job.order).toEqual(['train', 'report']);
    expect(job.resumedFrom).toEqual({ job: 'job-1', done: 2 });
    const train = job.tasks[0]!;
    // Met already: Batch must not wait for a task it is never given.
    expect(train.dependsOn).toEqual([]);
    expect(train.inputs).toEqual([
      { kind: 'fromTask', taskId: 'prep', path: 'model.bin', target: 'model.bin', jobId: 'job-0' },
    ]);
    expect(job.tasks[1]!.dependsOn).toEqual(['train']);
    // The Batch plan reads prep's output from the job that wrote it, not from this one.
    const plan = planBatchJob(
      'job-2',
      job,
      { containerUrl: (c) => `https://acct/${c}`, blobUrl: (c, p) => `https://acct/${c}/${p}` },
      { dataContainer: 'jobdata-job-1', uploads: { container: 'uploads', folder: 'alice/' } },
    );
    expect(plan.tasks[0]!.resourceFiles).toEqual([
      // The done task's outputs are in the job that ran it: in that job's own container.
      { source: { url: 'https://acct/jobdata-job-0/job-0/tasks/prep/model.bin' }, target: 'model.bin' },
    ]);
    expect(plan.tasks[0]!.dependsOn).toBeUndefined();
  });

  it('should cut done ids out of integer ranges', () => {
    const sweep = jobSpecSchema.parse({
      name: 'sweep',
      taskIdStyle: 'int',
      tasks: [
        ...Array.from({ length: 6 }, (_, i) => ({ id: i + 1, command: `run ${i + 1}` })),
        { id: 7, command: 'merge', dependsOnRange: [1, 6] },
      ],
    });
    const job = expandJob(sweep, context({ 1: 'job-1', 3: 'job-1', 4: 'job-1', 6: 'job-1' }));
    expect(job.tasks.map((t) => t.id)).toEqual(['2', '5', '7']);
    expect(job.tasks.at(-1)!.dependsOnRanges).toEqual([
      [2, 2],
      [5, 5],
    ]);
  });

  it('should check the whole graph as written, and refuse a resume that leaves nothing to run', () => {
    const all = { prep: 'job-1', train: 'job-1', report: 'job-1', lint: 'job-1' };
    const refused = (() => {
      try {
        expandJob(workflow, context(all));
      } catch (error) {
        if (error instanceof ValidationError) return error.issues;
        throw error;
      }
      return [];
    })();
    expect(refused).toEqual([
      { path: 'resumeFrom', message: 'every task succeeded in job job-1 already: nothing is left to run' },
    ]);
    // A cycle is still a cycle, whatever was done.
    const cyclic = jobSpecSchema.parse({
      name: 'c',
      tasks: [
        { id: 'a', command: 'a', dependsOn: ['b'] },
        { id: 'b', command: 'b', dependsOn: ['a'] },
      ],
    });
    expect(() => expandJob(cyclic, context({ a: 'job-1' }))).toThrow(ValidationError);
  });

  it('should name each bad field of a resubmission', () => {
    const bad = resubmitSchema.safeParse({ tasks: 'some', pool: 'a b', retries: -1, owner: 'bob' });
    expect(bad.success).toBe(false);
    expect(
      zodIssues(bad.error!)
        .map((i) => i.path)
        .sort(),
    ).toEqual(['owner', 'pool', 'retries', 'tasks']);
    expect(
      jobSpecSchema.safeParse({ name: 'x', tasks: [{ command: 'x' }], resumeFrom: '../x' }).success,
    ).toBe(false);
  });
});

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expandJob, type ExpandContext } from '../../../shared/domain/expand.js';
import { DEFAULT_LIMITS, jobSpecSchema } from '../../../shared/domain/jobSpec.js';
import { exitRulesCommandLine, planBatchJob, taskCommandLine } from '../../../shared/domain/batchPlan.js';
import { zodIssues } from '../../../shared/domain/issues.js';
import { tasksToSkip } from '../../../shared/domain/taskState.js';

const context: ExpandContext = {
  jobId: 'job-1',
  owner: 'alice',
  defaultPool: 'cpu',
  defaultLogsContainer: 'job-logs',
  limits: DEFAULT_LIMITS,
};

const dir = mkdtempSync(path.join(tmpdir(), 'exit-codes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a Batch command line as a Linux node would (it has no shell of its own: /bin/sh -c). */
function run(commandLine: string, env: Record<string, string> = {}): { code: number | null; stderr: string } {
  const [shell, flag, script] = [
    '/bin/sh',
    '-c',
    commandLine.slice("/bin/sh -c '".length, -1).replace(/'\\''/g, "'"),
  ];
  const result = spawnSync(shell, [flag, script], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: result.status, stderr: result.stderr };
}

describe('what exit codes mean', () => {
  it('should turn a success code into 0 and say so, leaving other codes as they were', () => {
    const rules = { success: [3], failJob: [], runDependents: [] };
    expect(run(exitRulesCommandLine("echo 'quoted' >&2; exit 3", rules, 2))).toEqual({
      code: 0,
      stderr: 'quoted\ncloudjobs: exit code 3 counts as success\n',
    });
    expect(run(exitRulesCommandLine('exit 5', rules, 2)).code).toBe(5);
    expect(run(exitRulesCommandLine('true # a comment at the end', rules, 2)).code).toBe(0);
  });

  it('should retry in the shell when some codes fail the job, and stop at once at one of those', () => {
    const rules = { success: [], failJob: [2], runDependents: [] };
    const counter = path.join(dir, 'runs');
    const fatal = run(exitRulesCommandLine(`echo x >> ${counter}; exit 2`, rules, 3));
    expect(fatal.code).toBe(2);
    expect(readFileSync(counter, 'utf8')).toBe('x\n');
    expect(fatal.stderr).toBe('cloudjobs: exit code 2 fails the job\n');
    rmSync(counter);
    // Another failure is tried again, up to the retries (1 + 3 runs), then left as it was.
    const flaky = run(exitRulesCommandLine(`echo x >> ${counter}; exit 7`, rules, 3));
    expect(flaky.code).toBe(7);
    expect(readFileSync(counter, 'utf8')).toBe('x\nx\nx\nx\n');
    expect(flaky.stderr).toMatch(/trying again \(3 of 3 retries\)\n$/);
    rmSync(counter);
    // Succeeding on a retry ends it there.
    const third = `echo x >> ${counter}; [ $(wc -l < ${counter}) -ge 3 ]`;
    expect(run(exitRulesCommandLine(third, rules, 5)).code).toBe(0);
    expect(readFileSync(counter, 'utf8')).toBe('x\nx\nx\n');
  });

  it('should keep each attempt’s logs apart, whether Batch reruns the task or its shell does', () => {
    const flaky = (counter: string) =>
      `n=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 )); echo $n > ${counter}; echo "try $n"; echo "err $n" >&2; [ $n -ge 3 ]`;
    // Batch retries: the same command line run again in the same task directory.
    const batchDir = mkdtempSync(path.join(dir, 'batch-'));
    const line = taskCommandLine(flaky(path.join(batchDir, 'n')), 2);
    const runs = [1, 2, 3].map(() => run(line, { AZ_BATCH_TASK_DIR: batchDir }).code);
    expect(runs).toEqual([1, 1, 0]);
    for (const n of [1, 2, 3]) {
      expect(readFileSync(path.join(batchDir, `stdout-${n}.txt`), 'utf8')).toBe(`try ${n}\n`);
      expect(readFileSync(path.join(batchDir, `stderr-${n}.txt`), 'utf8')).toBe(`err ${n}\n`);
    }
    // The shell's own retries (codes that fail the job): one run of the line, three attempts.
    const shellDir = mkdtempSync(path.join(dir, 'shell-'));
    const rules = { success: [], failJob: [9], runDependents: [] };
    const looped = run(taskCommandLine(flaky(path.join(shellDir, 'n')), 2, rules), {
      AZ_BATCH_TASK_DIR: shellDir,
    });
    expect(looped.code).toBe(0);
    expect(looped.stderr).toBe('');
    expect(readFileSync(path.join(shellDir, 'stdout-2.txt'), 'utf8')).toBe('try 2\n');
    expect(readFileSync(path.join(shellDir, 'stderr-2.txt'), 'utf8')).toMatch(
      /^err 2\ncloudjobs: exit code 1; trying again/,
    );
    expect(readFileSync(path.join(shellDir, 'attempt'), 'utf8')).toBe('3\n');
    // A task that runs once logs as Batch does, to its own stdout.
    expect(taskCommandLine('echo once', 0)).toBe(`/bin/sh -c 'echo once'`);
  });

  it('should take the job’s rules for tasks without their own, and plan them for Batch', () => {
    const job = expandJob(
      jobSpecSchema.parse({
        name: 'codes',
        retries: 2,
        exitCodes: { success: [0, 3], failJob: [2] },
        tasks: [
          { id: 'a', command: 'a' },
          { id: 'b', command: 'b', exitCodes: { runDependents: [4] } },
          { id: 'c', command: 'c', dependsOn: ['b'] },
        ],
      }),
      context,
    );
    expect(job.tasks.map((t) => t.exitCodes)).toEqual([
      { success: [3], failJob: [2], runDependents: [] },
      { success: [], failJob: [], runDependents: [4] },
      { success: [3], failJob: [2], runDependents: [] },
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
    // Retried in the shell when a code fails the job; by Batch otherwise.
    expect(plan.tasks.map((t) => [t.maxRetries, t.exitCodeActions])).toEqual([
      [0, [{ code: 2, dependencyAction: 'block' }]],
      [2, [{ code: 4, dependencyAction: 'satisfy' }]],
      [0, [{ code: 2, dependencyAction: 'block' }]],
    ]);
  });

  it('should let dependents run after a code that allows it, and skip them after any other', () => {
    const graph = [
      { id: 'b', dependsOn: [], dependsOnRanges: [], runDependentsOnFailure: false, runDependents: [4] },
      { id: 'c', dependsOn: ['b'], dependsOnRanges: [], runDependentsOnFailure: false },
    ];
    const failed = new Map([['b', 'FAILED' as const]]);
    expect(tasksToSkip(graph, ['b', 'c'], failed, new Set(), new Map([['b', 4]]))).toEqual([]);
    expect(tasksToSkip(graph, ['b', 'c'], failed, new Set(), new Map([['b', 5]]))).toEqual([
      { id: 'c', status: 'SKIPPED' },
    ]);
  });

  it('should refuse a code with two meanings, or 0 failing the job, naming it', () => {
    const parsed = jobSpecSchema.safeParse({
      name: 'x',
      exitCodes: { success: [3], failJob: [0, 3] },
      tasks: [{ id: 'a', command: 'a' }],
    });
    expect(parsed.success).toBe(false);
    expect(zodIssues(parsed.error!)).toEqual([
      { path: 'exitCodes.failJob[0]', message: '0 is success; it cannot fail the job' },
      { path: 'exitCodes.failJob[1]', message: '3 is also in success' },
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.js';
import { expandJob, type ExpandContext } from '../../../shared/domain/expand.js';
import { zodIssues } from '../../../shared/domain/issues.js';
import {
  DEFAULT_LIMITS,
  jobSpecSchema,
  templateBodySchema,
  type JobSpec,
} from '../../../shared/domain/jobSpec.js';
import { compileTemplate, renderTemplate } from '../../../shared/domain/macros.js';
import {
  defaultTarget,
  matchesAnyPattern,
  parseInputSource,
  patternProblem,
  relativePathProblem,
} from '../../../shared/domain/paths.js';
import { applyTemplate } from '../../../shared/domain/templates.js';

const context: ExpandContext = {
  jobId: 'job-1',
  owner: 'alice',
  defaultPool: 'local',
  defaultLogsContainer: 'job-logs',
  limits: DEFAULT_LIMITS,
};

function parse(body: unknown): JobSpec {
  const parsed = jobSpecSchema.safeParse(body);
  if (!parsed.success) throw new Error(JSON.stringify(zodIssues(parsed.error)));
  return parsed.data;
}

function issuesOf(body: unknown): Array<{ path: string; message: string }> {
  const parsed = jobSpecSchema.safeParse(body);
  if (!parsed.success) return zodIssues(parsed.error);
  try {
    expandJob(parsed.data, context);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  return [];
}

describe('macros', () => {
  it.each([
    ['plain text', {}, 'plain text'],
    ['run ${a} and ${b}', { a: '1', b: 'two' }, 'run 1 and two'],
    ['${a}${a}', { a: 'x' }, 'xx'],
    ['cost $5 and $${a} stays', { a: 'x' }, 'cost $5 and ${a} stays'],
    ['', {}, ''],
  ])('should render %j', (text, values, expected) => {
    expect(renderTemplate(compileTemplate(text), (name) => (values as Record<string, string>)[name])).toEqual(
      {
        value: expected,
      },
    );
  });

  it('should say which macro is missing rather than render it empty', () => {
    expect(
      renderTemplate(compileTemplate('echo ${known} ${unknown}'), (n) => (n === 'known' ? 'k' : undefined)),
    ).toEqual({ missing: 'unknown' });
  });

  it.each([
    ['echo ${unclosed', /without a closing/],
    ['echo ${not valid}', /invalid macro name/],
    ['echo ${}', /invalid macro name/],
  ])('should refuse %j', (text, message) => {
    expect(() => compileTemplate(text)).toThrow(message);
  });
});

describe('paths', () => {
  it.each([
    ['results/a.csv', undefined],
    ['a..b/c', undefined],
    ['.hidden', undefined],
    ['', /empty/],
    ['/etc/passwd', /relative/],
    ['C:/Windows', /relative/],
    ['..', /\.\./],
    ['a/../../b', /\.\./],
    ['a\\b', /separator/],
    ['~/.ssh/id_rsa', /home/],
    ['a\0b', /NUL/],
  ])('should judge %j', (value, problem) => {
    const result = relativePathProblem(value);
    if (problem === undefined) expect(result).toBeUndefined();
    else expect(result).toMatch(problem);
  });

  it('should check glob patterns as paths too', () => {
    expect(patternProblem('results/**')).toBeUndefined();
    expect(patternProblem('../**')).toMatch(/\.\./);
    expect(matchesAnyPattern('results/sub/b.csv', ['results/**'])).toBe(true);
    expect(matchesAnyPattern('other.txt', ['*.csv', 'results/**'])).toBe(false);
    expect(matchesAnyPattern('x', [])).toBe(false);
  });

  it.each([
    ['blob://inputs/data/a.txt', { kind: 'blob', container: 'inputs', path: 'data/a.txt' }],
    ['blob://inputs/data/', { kind: 'blob', container: 'inputs', path: 'data/' }],
    ['blob://inputs', { kind: 'blob', container: 'inputs', path: '' }],
    ['https://example.org/f.zip?sig=1', { kind: 'https', url: 'https://example.org/f.zip?sig=1' }],
    ['files://datasets/a.csv', { kind: 'files', path: 'datasets/a.csv' }],
    ['files://datasets/', { kind: 'files', path: 'datasets/' }],
  ])('should parse source %j', (value, expected) => {
    expect(parseInputSource(value)).toEqual(expected);
  });

  it.each([
    ['http://example.org/f', /blob:\/\/.*https/],
    ['file:///etc/passwd', /blob:\/\/.*https/],
    ['blob://UPPER/x', /container name/],
    ['blob://inputs/../secrets/x', /\.\./],
    ['https://user:pw@example.org/f', /credentials/],
    ['files://../bob/a.csv', /files path must not contain "\.\."/],
    ['files:///etc/passwd', /files path must be relative/],
    ['files://a//b', /empty or "\." segments/],
    ['files://', /files path must not be empty/],
  ])('should refuse source %j', (value, message) => {
    const result = parseInputSource(value);
    expect('problem' in result && result.problem).toMatch(message);
  });

  it('should take the last segment as the default target', () => {
    expect(defaultTarget({ kind: 'blob', container: 'c', path: 'data/a.txt' })).toBe('a.txt');
    expect(defaultTarget({ kind: 'blob', container: 'c', path: 'data/' })).toBe('data');
    expect(defaultTarget({ kind: 'https', url: 'https://h/x/model%20v2.bin' })).toBe('model v2.bin');
  });
});

describe('job spec schema', () => {
  it('should take a minimal spec and remove spaces from the name', () => {
    const spec = parse({ name: ' my job ', tasks: [{ id: 'a', command: 'echo hi' }] });
    expect(spec.name).toBe('myjob');
  });

  it.each<[string, unknown, string, RegExp]>([
    [
      'an unknown field',
      { name: 'j', tasks: [{ id: 'a', command: 'x' }], colour: 'red' },
      'colour',
      /not a known field/,
    ],
    [
      'an unknown task field',
      { name: 'j', tasks: [{ id: 'a', command: 'x', dependson: ['b'] }] },
      'tasks[0].dependson',
      /not a known field/,
    ],
    ['a bad name', { name: 'no/slashes', tasks: [{ id: 'a', command: 'x' }] }, 'name', /letters, digits/],
    ['a name too long', { name: 'x'.repeat(65), tasks: [{ id: 'a', command: 'x' }] }, 'name', /64/],
    [
      'a wrong type',
      { name: 'j', tasks: [{ id: 'a', command: 'x', retries: 'two' }] },
      'tasks[0].retries',
      /number/,
    ],
    ['a missing command', { name: 'j', tasks: [{ id: 'a' }] }, 'tasks[0].command', /required/],
    ['a bad task id', { name: 'j', tasks: [{ id: 'a b', command: 'x' }] }, 'tasks[0].id', /letters/],
    [
      'both tasks and sweep',
      { name: 'j', tasks: [{ id: 'a', command: 'x' }], sweep: { command: 'x', range: [1, 2] } },
      'sweep',
      /not both/,
    ],
    [
      'a backwards range',
      { name: 'j', sweep: { command: 'x', range: [5, 1] } },
      'sweep.range',
      /start ≤ end/,
    ],
    ['a bad template ref', { name: 'j', template: 'no-version' }, 'template', /name@version/],
    [
      'a bad env name',
      { name: 'j', env: { '1X': 'v' }, tasks: [{ id: 'a', command: 'x' }] },
      'env.1X',
      /variable name/,
    ],
    [
      'a Batch env name',
      { name: 'j', env: { AZ_BATCH_TASK_ID: 'v' }, tasks: [{ id: 'a', command: 'x' }] },
      'env.AZ_BATCH_TASK_ID',
      /AZ_BATCH_/,
    ],
    [
      'a parameter shadowing a built-in',
      { name: 'j', parameters: { jobId: 'x' }, tasks: [{ id: 'a', command: 'x' }] },
      'parameters.jobId',
      /built-in/,
    ],
    [
      'a source input with an unknown field',
      { name: 'j', inputs: [{ source: 'blob://c1c/x', targte: 'y' }], tasks: [{ id: 'a', command: 'x' }] },
      'inputs[0].targte',
      /not a known field/,
    ],
    [
      'a notification to a non-http URL',
      { name: 'j', notifications: [{ url: 'ftp://x.org/' }], tasks: [{ id: 'a', command: 'x' }] },
      'notifications[0].url',
      /http/,
    ],
    [
      'a notification status that is not a status',
      {
        name: 'j',
        notifications: [{ email: 'a@b.org', statuses: ['DONE'] }],
        tasks: [{ id: 'a', command: 'x' }],
      },
      'notifications[0].statuses[0]',
      /FINISHED/,
    ],
    [
      'a task status on job events only (it could never match)',
      {
        name: 'j',
        notifications: [{ url: 'https://hooks.example.org/x', statuses: ['FAILED', 'SUCCEEDED'] }],
        tasks: [{ id: 'a', command: 'x' }],
      },
      'notifications[0].statuses[1]',
      /SUCCEEDED is a task status.*add "task\.\*"/,
    ],
    [
      'a job status on task events only',
      {
        name: 'j',
        notifications: [{ email: 'a@b.org', events: ['task.*'], statuses: ['FINISHED'] }],
        tasks: [{ id: 'a', command: 'x' }],
      },
      'notifications[0].statuses[0]',
      /FINISHED is a job status.*add "job\.\*"/,
    ],
  ])('should refuse %s, naming the field', (_case, body, path, message) => {
    const parsed = jobSpecSchema.safeParse(body);
    expect(parsed.success).toBe(false);
    const issues = zodIssues(parsed.error!);
    expect(issues).toContainEqual({ path, message: expect.stringMatching(message) as string });
  });

  it('should take task events, alone or with job events, filtered by task or shared statuses', () => {
    const parsed = jobSpecSchema.parse({
      name: 'j',
      tasks: [{ id: 'a', command: 'x' }],
      notifications: [
        { url: 'https://hooks.example.org/x', events: ['task.*'], statuses: ['FAILED', 'SKIPPED'] },
        { email: 'a@b.org', events: ['job.*', 'task.status.changed'], statuses: ['FAILED', 'FINISHED'] },
      ],
    });
    expect(parsed.notifications?.map((n) => n.events)).toEqual([
      ['task.*'],
      ['job.*', 'task.status.changed'],
    ]);
  });

  it('should not let a template name another template', () => {
    expect(templateBodySchema.safeParse({ template: 'x@1' }).success).toBe(false);
  });
});

describe('expanding a job', () => {
  it('should apply job defaults and let tasks override them', () => {
    const job = expandJob(
      parse({
        name: 'j',
        image: 'python:3.12-slim',
        retries: 2,
        env: { A: 'job', B: 'job' },
        outputs: { patterns: ['results/**'] },
        tasks: [
          { id: 'a', command: 'echo a' },
          {
            id: 'b',
            command: 'echo b',
            image: 'alpine',
            retries: 0,
            env: { B: 'task' },
            outputs: ['*.csv'],
            dependsOn: ['a'],
            timeoutMinutes: 5,
          },
        ],
      }),
      context,
    );
    expect(job).toMatchObject({
      pool: 'local',
      logs: { container: 'job-logs', folder: 'logs' },
      completeWhenTasksFinish: true,
      taskIdStyle: 'string',
    });
    expect(job.tasks[0]).toEqual({
      id: 'a',
      command: 'echo a',
      image: 'python:3.12-slim',
      env: { A: 'job', B: 'job' },
      inputs: [],
      outputs: ['results/**'],
      dependsOn: [],
      dependsOnRanges: [],
      runDependentsOnFailure: false,
      retries: 2,
    });
    expect(job.tasks[1]).toMatchObject({
      image: 'alpine',
      retries: 0,
      env: { A: 'job', B: 'task' },
      outputs: ['results/**', '*.csv'],
      dependsOn: ['a'],
      timeoutMinutes: 5,
    });
    expect(job.order).toEqual(['a', 'b']);
  });

  it('should expand parameters and built-in macros in commands, env values and paths', () => {
    const job = expandJob(
      parse({
        name: 'classify',
        parameters: { threshold: 0.5, model: 'resnet' },
        env: { OUT: '${outputDir}/${taskId}' },
        tasks: [
          {
            id: 'run',
            command: 'python3 classify.py --t ${threshold} --job ${jobId} --name ${jobName} --by ${owner}',
            inputs: [{ source: 'blob://models/${model}.bin', target: 'models/${model}.bin' }],
            outputs: ['out-${taskId}/**'],
          },
        ],
      }),
      context,
    );
    expect(job.tasks[0]).toMatchObject({
      command: 'python3 classify.py --t 0.5 --job job-1 --name classify --by alice',
      env: { OUT: '$AZ_BATCH_TASK_WORKING_DIR/outputs/run' },
      inputs: [{ kind: 'blob', container: 'models', path: 'resnet.bin', target: 'models/resnet.bin' }],
      // Writing to ${outputDir} (here through env) makes the folder an output.
      outputs: ['out-run/**', 'outputs/**'],
      makesOutputDir: true,
    });
  });

  it.each([
    [
      'an input target',
      { inputs: [{ source: 'blob://data/a', target: '${inputDir}/a' }] },
      'tasks[0].inputs[0].target',
      /inputDir.*relative to it already/,
    ],
    [
      'an output pattern',
      { outputs: ['${outputDir}/**'] },
      'tasks[0].outputs[0]',
      /name its files here as outputs\//,
    ],
    [
      'an input source',
      { inputs: [{ source: 'blob://data/${inputDir}' }] },
      'tasks[0].inputs[0].source',
      /working directory/,
    ],
  ])(
    'should refuse the working-directory macros in %s, where no shell reads them',
    (_what, task, path, message) => {
      const issues = issuesOf({ name: 'x', tasks: [{ id: 'a', command: 'true', ...task }] });
      expect(issues.find((issue) => issue.path === path)?.message).toMatch(message);
    },
  );

  it.each<[string, unknown, string, RegExp]>([
    [
      'an unknown macro',
      { name: 'j', tasks: [{ id: 'a', command: 'echo ${nope}' }] },
      'tasks[0].command',
      /\$\{nope\}.*neither a parameter/,
    ],
    [
      '${index} outside a sweep',
      { name: 'j', tasks: [{ id: 'a', command: 'echo ${index}' }] },
      'tasks[0].command',
      /only in a sweep/,
    ],
    [
      'a macro in an env value',
      { name: 'j', env: { X: '${nope}' }, tasks: [{ id: 'a', command: 'x' }] },
      'env.X',
      /nope/,
    ],
    [
      'traversal smuggled in through a parameter',
      {
        name: 'j',
        parameters: { dir: '../..' },
        tasks: [{ id: 'a', command: 'x', inputs: [{ source: 'blob://data/x', target: '${dir}/etc' }] }],
      },
      'tasks[0].inputs[0].target',
      /\.\..*after macros/,
    ],
    [
      'an absolute target',
      {
        name: 'j',
        tasks: [{ id: 'a', command: 'x', inputs: [{ source: 'blob://data/x', target: '/etc/x' }] }],
      },
      'tasks[0].inputs[0].target',
      /relative/,
    ],
    [
      'a traversing output pattern',
      { name: 'j', outputs: { patterns: ['../../**'] }, tasks: [{ id: 'a', command: 'x' }] },
      'outputs.patterns[0]',
      /\.\./,
    ],
    [
      'a traversing task output',
      { name: 'j', tasks: [{ id: 'a', command: 'x', outputs: ['/abs/**'] }] },
      'tasks[0].outputs[0]',
      /relative/,
    ],
    [
      'a traversing log folder',
      { name: 'j', logs: { folder: '../other-job' }, tasks: [{ id: 'a', command: 'x' }] },
      'logs.folder',
      /\.\./,
    ],
    [
      'a bad log container',
      { name: 'j', logs: { container: 'Bad_Name' }, tasks: [{ id: 'a', command: 'x' }] },
      'logs.container',
      /container name/,
    ],
    [
      'a default target that decodes to ..',
      {
        name: 'j',
        inputs: [{ source: 'https://h.org/x/..%2F..%2Fetc' }],
        tasks: [{ id: 'a', command: 'x' }],
      },
      'inputs[0].target',
      /\.\./,
    ],
    ['a missing task id', { name: 'j', tasks: [{ command: 'x' }] }, 'tasks[0].id', /taskIdStyle/],
    [
      'a duplicate task id',
      {
        name: 'j',
        tasks: [
          { id: 'a', command: 'x' },
          { id: 'a', command: 'y' },
        ],
      },
      'tasks[1].id',
      /duplicate/,
    ],
    [
      'a dependency on an unknown task',
      { name: 'j', tasks: [{ id: 'a', command: 'x', dependsOn: ['ghost'] }] },
      'tasks[0].dependsOn[0]',
      /unknown task "ghost"/,
    ],
    [
      'a range without int ids',
      { name: 'j', tasks: [{ id: 'a', command: 'x', dependsOnRange: [1, 2] }] },
      'tasks[0].dependsOnRange',
      /int/,
    ],
    [
      'a fromTask of an unknown task',
      { name: 'j', tasks: [{ id: 'a', command: 'x', inputs: [{ fromTask: 'ghost', path: 'r.json' }] }] },
      'tasks[0].inputs[0].fromTask',
      /unknown task/,
    ],
    [
      'a fromTask of itself',
      {
        name: 'j',
        tasks: [{ id: 'a', command: 'x', outputs: ['*'], inputs: [{ fromTask: 'a', path: 'r.json' }] }],
      },
      'tasks[0].inputs[0].fromTask',
      /itself/,
    ],
    [
      'a fromTask of a file the producer does not output',
      {
        name: 'j',
        tasks: [
          { id: 'p', command: 'x', outputs: ['*.csv'] },
          { id: 'c', command: 'y', inputs: [{ fromTask: 'p', path: 'r.json' }] },
        ],
      },
      'tasks[1].inputs[0].path',
      /not among task "p"'s outputs/,
    ],
    [
      'a fromTask that is downstream (a cycle)',
      {
        name: 'j',
        tasks: [
          { id: 'p', command: 'x', outputs: ['*'], dependsOn: ['c'] },
          { id: 'c', command: 'y', outputs: ['*'], inputs: [{ fromTask: 'p', path: 'r.json' }] },
        ],
      },
      'tasks[0].dependsOn',
      /cycle: (p → c → p|c → p → c)/,
    ],
    ['a missing name', { tasks: [{ id: 'a', command: 'x' }] }, 'name', /required/],
    ['no tasks at all', { name: 'j' }, 'tasks', /tasks or a sweep/],
  ])('should refuse %s, naming the field', (_case, body, path, message) => {
    expect(issuesOf(body)).toContainEqual({ path, message: expect.stringMatching(message) as string });
  });

  it('should name a dependency cycle', () => {
    const issues = issuesOf({
      name: 'j',
      tasks: [
        { id: 'a', command: 'x', dependsOn: ['c'] },
        { id: 'b', command: 'x', dependsOn: ['a'] },
        { id: 'c', command: 'x', dependsOn: ['b'] },
      ],
    });
    expect(issues.map((i) => i.message).join('\n')).toMatch(
      /cycle: (a → c → b → a|a → b → c → a|b → a → c → b|c → b → a → c)/,
    );
  });

  it('should enforce the limits on tasks, command length and environment size', () => {
    const limited = {
      ...context,
      limits: { ...DEFAULT_LIMITS, maxTasks: 10, maxCommandLength: 20, maxEnvBytes: 16 },
    };
    const fail = (body: unknown) => {
      try {
        expandJob(parse(body), limited);
      } catch (error) {
        return (error as ValidationError).issues;
      }
      return [];
    };
    expect(fail({ name: 'j', sweep: { command: 'x', range: [1, 11] } })).toEqual([
      { path: 'sweep.range', message: 'makes 11 tasks; the limit is 10' },
    ]);
    expect(
      fail({ name: 'j', parameters: { p: 'x'.repeat(30) }, tasks: [{ id: 'a', command: 'echo ${p}' }] })[0],
    ).toMatchObject({
      path: 'tasks[0].command',
      message: expect.stringMatching(/35 characters after macros; the limit is 20/) as string,
    });
    expect(
      fail({ name: 'j', tasks: [{ id: 'a', command: 'x', env: { LONG: 'x'.repeat(20) } }] })[0],
    ).toMatchObject({
      path: 'tasks[0].env',
    });
  });

  it('should number tasks 1..n with taskIdStyle int and allow ranges', () => {
    const job = expandJob(
      parse({
        name: 'j',
        taskIdStyle: 'int',
        tasks: [
          { command: 'a' },
          { command: 'b' },
          { command: 'c' },
          { command: 'gather', dependsOnRange: [1, 3] },
        ],
      }),
      context,
    );
    expect(job.tasks.map((t) => t.id)).toEqual(['1', '2', '3', '4']);
    expect(job.tasks[3]!.dependsOnRanges).toEqual([[1, 3]]);
    expect(job.order.at(-1)).toBe('4');
  });

  it('should pass outputs from task to task with fromTask, which implies the dependency', () => {
    const job = expandJob(
      parse({
        name: 'wf',
        tasks: [
          { id: 'prep', command: 'python3 first_task.py', outputs: ['result.json'] },
          {
            id: 'train',
            command: 'python3 second_task.py',
            inputs: [{ fromTask: 'prep', path: 'result.json', target: 'in/result.json' }],
          },
        ],
      }),
      context,
    );
    expect(job.tasks[1]).toMatchObject({
      dependsOn: ['prep'],
      inputs: [{ kind: 'fromTask', taskId: 'prep', path: 'result.json', target: 'in/result.json' }],
    });
  });

  it('should expand a 100,000-task sweep in well under a second', () => {
    const spec = parse({
      name: 'sweep',
      parameters: { model: 'm1' },
      env: { SEED: '${index}' },
      sweep: {
        command: 'python3 run.py --seed ${index} --model ${model}',
        range: [1, 100_000],
        outputs: ['out/${index}.csv'],
      },
    });
    const start = performance.now();
    const job = expandJob(spec, context);
    const elapsed = performance.now() - start;
    expect(job.tasks).toHaveLength(100_000);
    expect(job.tasks[99_999]).toMatchObject({
      id: '100000',
      index: 100_000,
      command: 'python3 run.py --seed 100000 --model m1',
      env: { SEED: '100000' },
      outputs: ['out/100000.csv'],
    });
    expect(job.taskIdStyle).toBe('int');
    // Loose: a regression to per-task parsing would take many seconds.
    expect(elapsed).toBeLessThan(3000);
  });

  it('should stop at 100 problems instead of listing one per sweep task', () => {
    const issues = issuesOf({
      name: 'j',
      sweep: { command: 'x', range: [1, 1000], inputs: [{ source: 'blob://c1c/${index}', target: '/abs' }] },
    });
    expect(issues).toHaveLength(100);
  });
});

describe('templates', () => {
  it('should let the spec override the template, merging maps and replacing lists', () => {
    const template = templateBodySchema.parse({
      name: 'from-template',
      image: 'python:3.12',
      parameters: { threshold: '0.5', model: 'a' },
      env: { A: '1' },
      inputs: [{ source: 'blob://data/a' }],
      sweep: { command: 'run ${index}', range: [1, 3] },
    });
    const merged = applyTemplate(
      template,
      parse({
        template: 'x@1',
        parameters: { model: 'b' },
        inputs: [{ source: 'blob://data/b' }],
        tasks: [{ id: 't', command: 'go ${model} ${threshold}' }],
      }),
    );
    expect(merged).toMatchObject({
      name: 'from-template',
      image: 'python:3.12',
      parameters: { threshold: '0.5', model: 'b' },
      env: { A: '1' },
      inputs: [{ source: 'blob://data/b' }],
      tasks: [{ id: 't' }],
    });
    expect(merged.sweep).toBeUndefined();
    const job = expandJob(parse({ template: 'x@1', parameters: { model: 'b' } }), {
      ...context,
      template: { ref: 'x@1', body: template },
    });
    expect(job).toMatchObject({ name: 'from-template', template: 'x@1' });
    expect(job.tasks.map((t) => t.command)).toEqual(['run 1', 'run 2', 'run 3']);
  });
});

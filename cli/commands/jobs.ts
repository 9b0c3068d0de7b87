import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { Option, type Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import {
  JOB_SORT_NAMES,
  JOB_STATUS_NAMES,
  TASK_STATUS_NAMES,
  type Job,
  type JobSort,
  type JobSpec,
  type JobStatus,
  type TaskSpec,
  type Task,
  type TaskStatus,
} from '../../client/index.js';
import type { Context, Io, Run } from '../context.js';
import { exitForStatus, UsageError } from '../exit.js';
import { followJob, outcomeLines } from '../follow.js';
import { jobDataCommands } from './jobData.js';
import { doneCount, duration, runTime, stamp, stateSummary, table } from '../format.js';

const JOB_STATUSES = [...JOB_STATUS_NAMES];
const TASK_STATES = [...TASK_STATUS_NAMES];

/** Reads a JSON or YAML document from a file or standard input. */
async function readDocument(file: string, stdin: NodeJS.ReadableStream): Promise<unknown> {
  let source: string;
  try {
    source = file === '-' ? await text(stdin) : await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let spec: unknown;
  try {
    spec = file.endsWith('.json') ? JSON.parse(source) : parseYaml(source);
  } catch (error) {
    throw new UsageError(`${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'JSON or YAML'}`, [
      (error as Error).message.split('\n')[0]!,
    ]);
  }
  return spec;
}

/** Reads a job spec from a file or standard input: JSON or YAML. */
async function readSpec(file: string, stdin: NodeJS.ReadableStream): Promise<JobSpec> {
  const spec = await readDocument(file, stdin);
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new UsageError(`${file} is not a job: a job is an object with a name and tasks`);
  }
  return spec;
}

/** `--param k=v` (or another such flag), repeatable. */
const collectPairs =
  (flag: string) =>
  (value: string, previous: Record<string, string>): Record<string, string> => {
    const at = value.indexOf('=');
    if (at <= 0) throw new UsageError(`${flag} ${value}: expected name=value`);
    return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
  };
const collectParam = collectPairs('--param');

const jobLine = (job: Job) => `job ${job.id} ${job.status}: ${job.message}`;

/** The job commands: submit, ls, status, history, tasks, watch, logs, outputs and the controls. */
export function jobCommands(program: Command, run: Run, terminal: Io): void {
  submitCommand(program, run, terminal);
  queryCommands(program, run);
  followCommands(program, run, terminal);
  jobDataCommands(program, run, terminal);
  controlCommands(program, run);
}

/** Submit: read a spec, send it, and follow it when asked. */
function submitCommand(program: Command, run: Run, terminal: Io): void {
  const submit = program
    .command('submit')
    .description('submit a job from a JSON or YAML file (- reads standard input)')
    .argument('<file>', 'the job spec, or - for standard input')
    .option('-w, --wait', 'follow the job to its end; exit 0 finished, 1 failed, 3 cancelled')
    .option('-p, --param <name=value>', 'set a parameter (repeatable)', collectParam, {})
    .option('-n, --name <name>', "the job's name (instead of the spec's)")
    .option('--idempotency-key <key>', 'send this key: the same key again answers the same job')
    .addHelpText(
      'after',
      '\nExamples:\n  cloudjobs submit examples/workflow.json --wait\n  cloudjobs submit sweep.yaml -p n=100 --json',
    );
  run(submit, async (context, file) => {
    const options = submit.opts<{
      wait?: boolean;
      param: Record<string, string>;
      name?: string;
      idempotencyKey?: string;
    }>();
    const spec = await readSpec(file, terminal.in);
    if (options.name) spec.name = options.name;
    if (Object.keys(options.param).length > 0) {
      spec.parameters = { ...(spec.parameters ?? {}), ...options.param };
    }
    const job = await context.client.jobs.submit(
      spec,
      options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {},
    );
    return started(context, terminal, job, options.wait === true);
  });
  resubmitCommand(program, run, terminal);
  addTasksCommand(program, run, terminal);
}

/** `cloudjobs add-tasks <id> <file>`: more tasks for an open job. */
function addTasksCommand(program: Command, run: Run, terminal: Io): void {
  const addTasks = program
    .command('add-tasks')
    .description('add tasks to an open job (submitted with completeWhenTasksFinish false) while it runs')
    .argument('<id>', 'the open job')
    .argument('<file>', 'JSON or YAML: a list of tasks, or { "tasks": [...] }; - reads standard input')
    .option('--idempotency-key <key>', 'send this key: the same key again adds nothing more')
    .addHelpText(
      'after',
      '\nExamples:\n  cloudjobs add-tasks <id> more.yaml\n  cloudjobs complete <id>   # no more tasks: it ends with them',
    );
  run(addTasks, async (context, id, file) => {
    const options = addTasks.opts<{ idempotencyKey?: string }>();
    const read = await readDocument(file, terminal.in);
    const tasks = Array.isArray(read) ? read : (read as { tasks?: unknown }).tasks;
    if (!Array.isArray(tasks))
      throw new UsageError(`${file} holds no tasks: give a list, or { "tasks": [...] }`);
    const result = await context.client.jobs.addTasks(
      id,
      tasks as TaskSpec[],
      options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {},
    );
    context.print(result, () => `added ${result.added} task(s) to job ${id}: it has ${result.job.taskCount}`);
  });
}

/** A job just made: printed, or with `wait` followed to its end (the exit code says how). */
async function started(context: Context, terminal: Io, job: Job, wait: boolean): Promise<number | void> {
  if (!wait) {
    context.print(job, () => `${jobLine(job)}\nfollow it: cloudjobs watch ${job.id}`);
    return;
  }
  if (!context.json) terminal.err.write(`submitted job ${job.id} (${job.name}, ${job.taskCount} tasks)\n`);
  return finish(
    context,
    await followJob(context.client, job.id, {
      out: context.json ? nullStream : terminal.out,
      err: terminal.err,
    }),
  );
}

/** `cloudjobs resubmit <id>`: an ended job again, whole or only what did not succeed. */
function resubmitCommand(program: Command, run: Run, terminal: Io): void {
  const resubmit = program
    .command('resubmit')
    .description(
      'run an ended job again as a new job: all its tasks, or with --failed only those that did not succeed',
    )
    .argument('<id>', 'the ended job')
    .option('-f, --failed', 'only the tasks that did not succeed; the others count as done, outputs and all')
    .option('-w, --wait', 'follow the new job to its end; exit 0 finished, 1 failed, 3 cancelled')
    .option(
      '-p, --param <name=value>',
      'set a parameter (repeatable; merged over the original’s)',
      collectParam,
      {},
    )
    .option(
      '-e, --env <NAME=value>',
      'set an environment variable (repeatable; merged)',
      collectPairs('--env'),
      {},
    )
    .option(
      '--secret-env <NAME=secret>',
      'set an environment variable to one of your secrets (repeatable; merged)',
      collectPairs('--secret-env'),
      {},
    )
    .option('--pool <pool>', 'run on this pool instead')
    .option('--retries <n>', 'retries per task', (v) => whole(v, '--retries'))
    .option('--timeout <minutes>', "the job's wall clock, in minutes", (v) => positive(v, '--timeout'))
    .option('--idempotency-key <key>', 'send this key: the same key again answers the same job')
    .addHelpText(
      'after',
      '\nExamples:\n  cloudjobs resubmit <id> --failed --wait\n  cloudjobs resubmit <id> -p threshold=0.7',
    );
  run(resubmit, async (context, id) => {
    const options = resubmit.opts<{
      failed?: boolean;
      wait?: boolean;
      param: Record<string, string>;
      env: Record<string, string>;
      secretEnv: Record<string, string>;
      pool?: string;
      retries?: number;
      timeout?: number;
      idempotencyKey?: string;
    }>();
    const job = await context.client.jobs.resubmit(
      id,
      {
        tasks: options.failed ? 'failed' : 'all',
        ...(Object.keys(options.param).length > 0 ? { parameters: options.param } : {}),
        ...(Object.keys(options.env).length + Object.keys(options.secretEnv).length > 0
          ? {
              env: {
                ...options.env,
                ...Object.fromEntries(
                  Object.entries(options.secretEnv).map(([variable, secretRef]) => [variable, { secretRef }]),
                ),
              },
            }
          : {}),
        ...(options.pool ? { pool: options.pool } : {}),
        ...(options.retries !== undefined ? { retries: options.retries } : {}),
        ...(options.timeout !== undefined ? { timeoutMinutes: options.timeout } : {}),
      },
      options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {},
    );
    return started(context, terminal, job, options.wait === true);
  });
}

/** Status, history and tasks (and ls): what the service knows of your jobs. */
function queryCommands(program: Command, run: Run): void {
  lsCommand(program, run);
  statusCommands(program, run);
}

/** `cloudjobs ls`: your jobs (an admin's: anyone's), newest first, filtered. */
function lsCommand(program: Command, run: Run): void {
  const ls = program
    .command('ls')
    .description('your jobs, newest first')
    .addOption(new Option('-s, --status <status>', 'only jobs in this status').choices(JOB_STATUSES))
    .option('-n, --name <name>', 'only jobs of this name')
    .option('-t, --tag <tag>', 'only jobs with this tag: key, or key=value')
    .option('--since <time>', 'only jobs submitted at or after this time (ISO 8601, or e.g. 2h, 3d)', (v) =>
      since(v),
    )
    .option('--until <time>', 'only jobs submitted before this time (ISO 8601, or e.g. 2h, 3d)', (v) =>
      since(v),
    )
    .option('--owner <owner>', "admins: another owner's jobs")
    .addOption(
      new Option('--sort <order>', 'submitted: newest first; priority: highest first, then newest')
        .choices(JOB_SORT_NAMES)
        .default('submitted'),
    )
    .option('-l, --limit <n>', 'at most this many', (v) => positive(v, '--limit'), 20)
    .addHelpText(
      'after',
      '\nExamples:\n  cloudjobs ls --status RUNNING --sort priority\n  cloudjobs ls --tag project=alpha --since 7d',
    );
  run(ls, async (context) => {
    const options = ls.opts<{
      status?: JobStatus;
      name?: string;
      tag?: string;
      since?: string;
      until?: string;
      owner?: string;
      sort: JobSort;
      limit: number;
    }>();
    const jobs: Job[] = [];
    for await (const job of context.client.jobs.all({
      limit: Math.min(options.limit, 1000),
      sort: options.sort,
      ...(options.status ? { status: options.status } : {}),
      ...(options.name ? { name: options.name } : {}),
      ...(options.tag ? { tag: options.tag } : {}),
      ...(options.since ? { createdAfter: options.since } : {}),
      ...(options.until ? { createdBefore: options.until } : {}),
      ...(options.owner ? { owner: options.owner } : {}),
    })) {
      jobs.push(job);
      if (jobs.length >= options.limit) break;
    }
    // Priorities are shown when they order the list or tell jobs apart.
    const priorities = options.sort === 'priority' || jobs.some((job) => job.priority !== 0);
    context.print(jobs, () =>
      jobs.length === 0
        ? 'no jobs'
        : table(
            ['ID', 'NAME', 'STATUS', 'TASKS', ...(priorities ? ['PRIORITY'] : []), 'CREATED', 'RUN TIME'],
            jobs.map((job) => [
              job.id,
              job.name,
              job.status + (job.condition ? ` (${job.condition})` : ''),
              `${doneCount(job.taskCounts)}/${job.taskCount}`,
              ...(priorities ? [String(job.priority)] : []),
              job.createdAt.replace(/\.\d{3}Z$/, 'Z'),
              runTime(job),
            ]),
          ),
    );
  });
}

/** Status, history and tasks of one job. */
function statusCommands(program: Command, run: Run): void {
  const status = program.command('status').description('a job: status, why, task counts').argument('<id>');
  run(status, async (context, id) => {
    const job = await context.client.jobs.get(id);
    const { spec: _spec, ...shown } = job;
    context.print(shown, () =>
      [
        `id:        ${job.id}`,
        `name:      ${job.name}`,
        `status:    ${job.status}${job.condition ? ` (${job.condition})` : ''}`,
        `message:   ${job.message}`,
        `tasks:     ${doneCount(job.taskCounts)}/${job.taskCount} done (${stateSummary(job.taskCounts)})`,
        `pool:      ${job.pool}`,
        `priority:  ${job.priority}`,
        `created:   ${job.createdAt}`,
        `run time:  ${runTime(job)}`,
        ...(job.exitCodes
          ? [
              `failed:    ${Object.entries(job.exitCodes)
                .map(([t, c]) => `${t} (exit ${c})`)
                .join(', ')}`,
            ]
          : []),
      ].join('\n'),
    );
  });

  const history = program
    .command('history')
    .description("a job's status changes, oldest first")
    .argument('<id>');
  run(history, async (context, id) => {
    const entries = await context.client.jobs.history(id);
    context.print(entries, () =>
      table(
        ['#', 'AT', 'STATUS', 'MESSAGE'],
        entries.map((e) => [
          e.sequence,
          e.at,
          e.status + (e.condition ? ` (${e.condition})` : ''),
          e.message,
        ]),
      ),
    );
  });

  const tasks = program
    .command('tasks')
    .description("a job's tasks, in order")
    .argument('<id>')
    .addOption(new Option('--state <state>', 'only tasks in this state').choices(TASK_STATES))
    .addHelpText('after', '\nExample:\n  cloudjobs tasks <id> --state FAILED');
  run(tasks, async (context, id) => {
    const options = tasks.opts<{ state?: TaskStatus }>();
    const all: Task[] = [];
    for await (const task of context.client.jobs.allTasks(id, options.state ? { state: options.state } : {}))
      all.push(task);
    context.print(all, () =>
      all.length === 0
        ? 'no tasks'
        : table(
            ['ID', 'STATE', 'EXIT', 'ATTEMPT', 'STARTED', 'ENDED', 'DURATION'],
            all.map((t) => [
              t.id,
              t.status,
              t.exitCode,
              t.attempt,
              t.startedAt,
              t.endedAt,
              t.startedAt && t.endedAt
                ? duration(Date.parse(t.endedAt) - Date.parse(t.startedAt))
                : undefined,
            ]),
          ),
    );
  });
}

/** Watch and logs: a job or a task as it happens. */
function followCommands(program: Command, run: Run, terminal: Io): void {
  const watch = program
    .command('watch')
    .description(
      'follow a job live to its end (exit 0 finished, 1 failed, 3 cancelled); without an id, every job of yours until interrupted',
    )
    .argument('[id]')
    .addOption(
      new Option('-s, --status <status>', 'without an id: only changes into this status').choices(
        JOB_STATUSES,
      ),
    )
    .option('-n, --name <name>', 'without an id: only jobs of this name')
    .addHelpText(
      'after',
      '\nExamples:\n  cloudjobs watch <id>          # a progress bar on a terminal\n  cloudjobs watch <id> --json   # one event per line\n  cloudjobs watch --status FAILED',
    );
  run(watch, async (context, id) => {
    if (id) return finish(context, await followJob(context.client, id, terminal, { json: context.json }));
    const options = watch.opts<{ status?: JobStatus; name?: string }>();
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    try {
      const onOpen = () => {
        if (!context.json) terminal.err.write('watching your jobs (Ctrl-C to stop)\n');
      };
      for await (const event of context.client.events({ ...options, signal: stop.signal, onOpen })) {
        const data = event.data.data;
        terminal.out.write(
          context.json
            ? `${JSON.stringify({ ...event.data, event: event.event, eventId: event.id })}\n`
            : `${stamp()} ${data.jobId} ${data.name} ${data.status}${data.condition ? ` (${data.condition})` : ''}: ${data.message}\n`,
        );
      }
    } catch (error) {
      if (!stop.signal.aborted) throw error;
    }
  });
}

/** Cancel, pause, resume, complete, priority and delete. */
function controlCommands(program: Command, run: Run): void {
  const cancel = program
    .command('cancel')
    .description('cancel a job: running tasks are stopped, it ends CANCELLED; or cancel one task of it')
    .argument('<id>')
    .argument('[taskId]', 'only this task: it ends CANCELLED, its dependents are skipped, the job carries on')
    .addHelpText('after', '\nExamples:\n  cloudjobs cancel <id>\n  cloudjobs cancel <id> train');
  run(cancel, async (context, id, taskId) => {
    if (typeof taskId === 'string') {
      const task = await context.client.jobs.cancelTask(id, taskId);
      context.print(task, () => `task ${task.id} of job ${id}: ${task.status}`);
      return;
    }
    const job = await context.client.jobs.cancel(id);
    context.print(job, () => jobLine(job));
  });
  for (const [name, describe] of [
    ['pause', 'hold a job: running tasks go back to the queue'],
    ['resume', 'release a paused job'],
    ['complete', 'say no more tasks are coming to a job that waits for that'],
  ] as const) {
    const control = program.command(name).description(describe).argument('<id>');
    run(control, async (context, id) => {
      const job = await context.client.jobs[name](id);
      context.print(job, () => jobLine(job));
    });
  }
  const priority = program
    .command('priority')
    .description("change a running job's priority on Batch (-1000 to 1000; higher runs first)")
    .argument('<id>')
    .argument('<priority>', 'a whole number from -1000 to 1000', (value) => {
      const n = Number(value);
      if (!Number.isInteger(n)) throw new UsageError(`priority must be a whole number, not ${value}`);
      return n;
    })
    .addHelpText('after', '\nExample:\n  cloudjobs priority <id> 500');
  run(priority, async (context, id, value) => {
    const job = await context.client.jobs.update(id, { priority: Number(value) });
    context.print(job, () => `job ${job.id} ${job.status}: priority ${job.priority}`);
  });
  const remove = program
    .command('delete')
    .description('forget an ended job and everything kept of it')
    .argument('<id>');
  run(remove, async (context, id) => {
    await context.client.jobs.delete(id);
    context.print({ id, deleted: true }, () => `job ${id} deleted`);
  });
}

function finish(context: Context, job: Job): number {
  // One line: after `watch --json`'s events it is the last of them.
  if (context.json) context.terminal.out.write(`${JSON.stringify(job)}\n`);
  else for (const line of outcomeLines(job)) context.terminal.err.write(`${line}\n`);
  return exitForStatus(job.status);
}

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * A time as the user writes it: an ISO 8601 instant, a date (midnight, local time), or an age
 * (`90m`, `2h`, `3d`, `1w` ago); always sent on as an ISO instant.
 */
export function since(value: string, now = Date.now()): string {
  const age = /^(\d+)([mhdw])$/.exec(value.trim());
  if (age) return new Date(now - Number(age[1]) * UNIT_MS[age[2] as keyof typeof UNIT_MS]).toISOString();
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value.trim());
  const parsed = Date.parse(dateOnly ? `${value.trim()}T00:00` : value);
  if (Number.isNaN(parsed))
    throw new UsageError(`${value} is not a time: give an ISO 8601 time, a date, or an age such as 2h or 3d`);
  return new Date(parsed).toISOString();
}

function whole(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a whole number, not ${value}`);
  return n;
}

function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} must be a whole number of at least 1, not ${value}`);
  return n;
}

/** Where live output goes when --json asks for only the final document. */
const nullStream = Object.assign(new Writable({ write: (_chunk, _encoding, done) => done() }), {
  isTTY: false,
});

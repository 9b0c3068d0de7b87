import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';
import { freePort } from '../support/freePort.js';
import { waitFor } from '../support/waitFor.js';
import { cliCommand, cliRunner } from '../support/cliProcess.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef';

describe('the cloudjobs CLI against the embedded runtime', () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: {
      CLOUDJOBS_API_TOKENS: `alice=${ALICE},bob=${BOB}`,
      CLOUDJOBS_TABLE_PREFIX: uniqueName('cli'),
    },
  });
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cloudjobs-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The environment of a command run by Alice against the runtime, for commands spawned by hand. */
  const aliceEnv = () => ({
    ...process.env,
    CLOUDJOBS_URL: runtime.url,
    CLOUDJOBS_TOKEN: ALICE,
    CLOUDJOBS_CONFIG_DIR: path.join(dir, 'config'),
  });

  const cloudjobs = cliRunner(runtime, ALICE, () => path.join(dir, 'config'));

  it('should submit and wait to FINISHED with a live progress bar on a terminal, exit 0', async () => {
    const ran = await cloudjobs(['submit', 'examples/workflow.json', '--wait'], { tty: true });
    expect(ran.code, ran.stdout).toBe(0);
    // The bar (drawn with the block characters) and the status changes printed above it.
    expect(ran.stdout).toMatch(/[█░]+ \d+\/3 tasks/);
    expect(ran.stdout).toMatch(/job RUNNING/);
    expect(ran.stdout).toMatch(/job \S+ FINISHED \(NORMAL_COMPLETION\)/);
  });

  it('should print timestamped lines without a terminal, and exit 1 naming the failed task', async () => {
    const ran = await cloudjobs(['submit', 'examples/failing.json', '--wait']);
    expect(ran.code, ran.stderr).toBe(1);
    expect(ran.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ job RUNNING/m);
    expect(ran.stdout).not.toMatch(/█/);
    const failed = /failed tasks: (\S+) \(exit (\d+)\)/.exec(ran.stderr);
    expect(failed, ran.stderr).not.toBeNull();
    expect(ran.stdout).toContain(`task ${failed![1]} FAILED with exit code ${failed![2]}`);
  });

  it('should exit 2 on bad input, printing each field at fault on its own line', async () => {
    const file = path.join(dir, 'bad.json');
    await writeFile(
      file,
      JSON.stringify({
        name: 'bad',
        tasks: [{ id: 'a', command: 'true' }, { id: 'b' }],
        colour: 'red',
      }),
    );
    const ran = await cloudjobs(['submit', file]);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(/^error: .*\(VALIDATION_FAILED\)$/m);
    expect(ran.stderr).toMatch(/^ {2}colour: /m);
    expect(ran.stderr).toMatch(/^ {2}tasks\[1\]\.command: /m);

    const notJson = await cloudjobs(['submit', '-'], { stdin: '{ "name": ' });
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/is not valid JSON or YAML/);
    const usage = await cloudjobs(['submit']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/missing required argument 'file'/);
  });

  it('should exit 4 with a clear message when the service cannot be reached or refuses the token', async () => {
    // A port nothing listens on.
    const port = await freePort();
    const unreachable = await cloudjobs(['ls'], { url: `http://127.0.0.1:${port}` });
    expect(unreachable.code).toBe(4);
    expect(unreachable.stderr).toContain(`cannot reach cloudjobs at http://127.0.0.1:${port}: ECONNREFUSED`);
    const refused = await cloudjobs(['ls'], { token: 'not-a-token-of-anyone-here' });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/not authorised/);
  });

  it('should answer --json that parses, and another user’s job as not found', async () => {
    const submitted = await cloudjobs(['submit', 'examples/hello.json', '--json']);
    expect(submitted.code, submitted.stderr).toBe(0);
    const job = JSON.parse(submitted.stdout) as { id: string; status: string };
    expect(job.status).toBe('PENDING');
    const waited = await cloudjobs(['watch', job.id, '--json']);
    expect(waited.code).toBe(0);
    // One event per line, then the job as it ended.
    const lines = waited.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.at(-2)).toMatchObject({ event: 'job.status.changed', type: 'cloudjobs.job.status.changed' });
    expect(lines.at(-1)).toMatchObject({ id: job.id, status: 'FINISHED' });
    const listed = JSON.parse((await cloudjobs(['ls', '--json', '--limit', '5'])).stdout) as Array<{
      id: string;
    }>;
    expect(listed.map((j) => j.id)).toContain(job.id);
    const recent = await cloudjobs([
      'ls',
      '--json',
      '--since',
      '1h',
      '--status',
      'FINISHED',
      '--name',
      'hello',
    ]);
    expect((JSON.parse(recent.stdout) as Array<{ id: string }>).map((j) => j.id)).toContain(job.id);
    const future = await cloudjobs(['ls', '--json', '--since', '2999-01-01']);
    expect(JSON.parse(future.stdout)).toEqual([]);
    const untagged = await cloudjobs(['ls', '--json', '--tag', 'nobody-tags-this']);
    expect(JSON.parse(untagged.stdout)).toEqual([]);
    const badTime = await cloudjobs(['ls', '--since', 'last tuesday']);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toMatch(/last tuesday is not a time/);
    const table = (await cloudjobs(['ls'])).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+NAME\s+STATUS\s+TASKS\s+CREATED\s+RUN TIME$/);
    for (const command of [['status'], ['history'], ['tasks']]) {
      const ran = await cloudjobs([...command, job.id, '--json']);
      expect(ran.code, ran.stderr).toBe(0);
      expect(() => JSON.parse(ran.stdout) as unknown).not.toThrow();
    }

    const dot = await cloudjobs(['graph', job.id]);
    expect(dot.code, dot.stderr).toBe(0);
    expect(dot.stdout).toMatch(/^digraph "hello" \{/);
    expect(dot.stdout).toContain('"hello" [label="hello\\nsucceeded"');
    const graph = JSON.parse((await cloudjobs(['graph', job.id, '--json'])).stdout) as { planned: boolean };
    expect(graph).toEqual({
      planned: true,
      tasks: [{ id: 'hello', dependsOn: [], dependsOnRanges: [], runDependentsOnFailure: false }],
    });

    const theirs = await cloudjobs(['status', job.id], { token: BOB });
    expect(theirs.code).toBe(2);
    expect(theirs.stderr).toMatch(/does not exist \(JOB_NOT_FOUND\)/);
    const theirGraph = await cloudjobs(['graph', job.id], { token: BOB });
    expect(theirGraph.code).toBe(2);
    expect(theirGraph.stderr).toMatch(/JOB_NOT_FOUND/);
  });

  it('should download every output file with its content, and keep what is there on a second run', async () => {
    const submitted = JSON.parse(
      (await cloudjobs(['submit', 'examples/workflow.json', '--json', '--wait'])).stdout,
    ) as {
      id: string;
      status: string;
    };
    expect(submitted.status).toBe('FINISHED');
    const target = path.join(dir, 'results');
    const first = await cloudjobs(['outputs', submitted.id, '--download', target]);
    expect(first.code, first.stderr).toBe(0);
    const listing = JSON.parse((await cloudjobs(['outputs', submitted.id, '--json'])).stdout) as {
      files: Array<{ path: string; size: number }>;
    };
    expect(listing.files.length).toBeGreaterThan(0);
    for (const file of listing.files) {
      const content = await readFile(path.join(target, file.path));
      expect(content.length).toBe(file.size);
    }
    expect(JSON.parse(await readFile(path.join(target, 'summarize/results/summary.json'), 'utf8'))).toEqual({
      rows: 1000,
      sumOfSquares: 333833500,
    });
    expect((await readdir(target, { recursive: true })).filter((f) => f.endsWith('.part'))).toEqual([]);
    const again = await cloudjobs(['outputs', submitted.id, '--download', target, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({
      downloaded: [],
      kept: listing.files.map((f) => f.path),
    });
  });

  it('should follow a running task’s log as it is written, and end when the task ends', async () => {
    // The task says it is ready, then waits until the follower has read that: on a loaded runner
    // the CLI can take seconds to start, and lines written before it reads arrive in one lump.
    const gate = path.join(dir, uniqueName('gate'));
    const submitted = await cloudjobs(['submit', '-', '--json'], {
      stdin: JSON.stringify({
        name: 'ticker',
        tasks: [
          {
            id: 'tick',
            command: `echo ready; while [ ! -e ${gate} ]; do sleep 0.1; done; for i in 1 2 3 4 5 6; do echo "line $i"; sleep 1; done; echo done >&2`,
          },
        ],
      }),
    });
    const { id } = JSON.parse(submitted.stdout) as { id: string };
    // Follow from before the task starts: the stream waits for it.
    const [file, ...args] = cliCommand(['logs', id, 'tick', '--follow']);
    const child = spawn(file, args, {
      cwd: ROOT,
      env: aliceEnv(),
    });
    const arrivals: Array<{ line: string; at: number }> = [];
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let end: number;
      while ((end = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line === 'ready') void writeFile(gate, '');
        else arrivals.push({ line, at: Date.now() });
      }
    });
    // While it runs (and is followed), its priority can change (the job's record and its Batch job).
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const raised = await cloudjobs(['priority', id, '7']);
    expect(raised.code, raised.stderr).toBe(0);
    expect(raised.stdout).toMatch(new RegExp(`^job ${id} \\w+: priority 7$`, 'm'));
    // No other job of this file asks for more, so it now heads the list by priority.
    const top = await cloudjobs(['ls', '--sort', 'priority', '--limit', '1']);
    expect(top.stdout).toMatch(/^ID\s+NAME\s+STATUS\s+TASKS\s+PRIORITY\s+CREATED/);
    expect(top.stdout.split('\n')[1]).toMatch(new RegExp(`^${id}\\s+ticker\\s+\\w+\\s+\\d+/1\\s+7\\s`));
    const sideways = await cloudjobs(['ls', '--sort', 'sideways']);
    expect(sideways.code).toBe(2);
    expect(sideways.stderr).toMatch(/Allowed choices are submitted, priority/);
    const notANumber = await cloudjobs(['priority', id, 'high']);
    expect(notANumber.code).toBe(2);
    expect(notANumber.stderr).toMatch(/priority must be a whole number, not high/);
    const code = await closed;
    const ended = Date.now();
    expect(code).toBe(0);
    expect(arrivals.map((a) => a.line)).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6']);
    // Lines came as they were written, a second apart, not all at the end. Each line waits up
    // to a poll and a read before it shows, so only spans much longer than that are measured:
    // lines 1 and 6 are written five seconds apart.
    expect(ended - arrivals[0]!.at).toBeGreaterThan(3000);
    expect(arrivals[5]!.at - arrivals[0]!.at).toBeGreaterThan(2500);
    // Every byte once: the same as the whole log read after the task ended.
    const whole = await cloudjobs(['logs', id, 'tick']);
    expect(whole.stdout).toBe(['ready', ...arrivals.map((a) => a.line)].map((line) => `${line}\n`).join(''));
    const stderr = await cloudjobs(['logs', id, 'tick', '--stderr', '--follow']);
    expect(stderr.stdout).toBe('done\n');
  });

  it('should cancel one task of a running job, and say why when it cannot', async () => {
    const gate = path.join(dir, 'gate');
    const submitted = await cloudjobs(['submit', '-', '--json'], {
      stdin: JSON.stringify({
        name: 'one-cancelled',
        tasks: [
          { id: 'long', command: 'echo started; sleep 120' },
          { id: 'after', command: 'true', dependsOn: ['long'] },
          // Keeps the job running until the test has cancelled (the local pool shares this machine).
          { id: 'other', command: `while [ ! -e ${gate} ]; do sleep 0.1; done` },
        ],
      }),
    });
    const { id } = JSON.parse(submitted.stdout) as { id: string };
    await waitFor(
      async () => ((await cloudjobs(['logs', id, 'long'])).stdout === 'started\n' ? true : undefined),
      {
        timeoutMs: 60_000,
        what: 'the task to start',
      },
    );
    const cancelled = await cloudjobs(['cancel', id, 'long']);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toBe(`task long of job ${id}: CANCELLED\n`);
    // Refused requests exit 2, as any the service turns down.
    const again = await cloudjobs(['cancel', id, 'long', '--json']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/task long has ended \(CANCELLED\); it cannot be cancelled \(TASK_ENDED\)/);
    // The job went on without it, and ended saying why.
    await writeFile(gate, '');
    const waited = await cloudjobs(['watch', id]);
    expect(waited.code).toBe(1);
    const status = await cloudjobs(['status', id]);
    expect(status.stdout).toMatch(/^status: +FAILED \(TASK_CANCELLED\)$/m);
    expect(status.stdout).toMatch(/^message: +1 skipped, 1 cancelled of 3 task\(s\)$/m);
  });

  it('should resubmit only what failed, with a parameter changed, and follow the new job', async () => {
    const failed = await cloudjobs(['submit', '-', '--wait', '--json', '-p', 'mode=bad'], {
      stdin: JSON.stringify({
        name: 'resubmitted',
        tasks: [
          { id: 'prep', command: 'echo prep > out.txt', outputs: ['out.txt'] },
          {
            id: 'check',
            command: 'cat out.txt; test "${mode}" = ok',
            inputs: [{ fromTask: 'prep', path: 'out.txt' }],
          },
        ],
      }),
    });
    expect(failed.code).toBe(1);
    const original = JSON.parse(failed.stdout.trim().split('\n').at(-1)!) as { id: string };
    const again = await cloudjobs(['resubmit', original.id, '--failed', '-p', 'mode=ok', '--wait', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const resubmitted = JSON.parse(again.stdout.trim().split('\n').at(-1)!) as {
      id: string;
      status: string;
      taskCount: number;
      resubmittedFrom: string;
    };
    expect(resubmitted).toMatchObject({ status: 'FINISHED', taskCount: 1, resubmittedFrom: original.id });
    expect((await cloudjobs(['logs', resubmitted.id, 'check'])).stdout).toBe('prep\n');
    // Everything succeeded now: --failed has nothing to run, and says so at the field.
    const nothing = await cloudjobs(['resubmit', resubmitted.id, '--failed']);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/tasks: every task of job .* succeeded; ask for "all" to run them again/);
    const badFlag = await cloudjobs(['resubmit', original.id, '--env', 'novalue']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/--env novalue: expected name=value/);
  });

  it('should add tasks from a YAML file to an open job, and complete it', async () => {
    const submitted = await cloudjobs(['submit', '-', '--json'], {
      stdin: JSON.stringify({
        name: 'opened',
        completeWhenTasksFinish: false,
        tasks: [{ id: 'first', command: 'echo first' }],
      }),
    });
    const { id } = JSON.parse(submitted.stdout) as { id: string };
    await waitFor(
      async () => {
        const status = JSON.parse((await cloudjobs(['status', id, '--json'])).stdout) as { status: string };
        return ['QUEUED', 'RUNNING'].includes(status.status) ? true : undefined;
      },
      { timeoutMs: 60_000, what: 'the job to be queued' },
    );
    const file = path.join(dir, 'more.yaml');
    await writeFile(file, '- id: second\n  command: echo second\n  dependsOn: [first]\n');
    const added = await cloudjobs(['add-tasks', id, file]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toBe(`added 1 task(s) to job ${id}: it has 2\n`);
    await writeFile(file, 'tasks: [{ id: third, command: "true", dependsOn: [nope] }]\n');
    const refused = await cloudjobs(['add-tasks', id, file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/tasks\[0\]\.dependsOn\[0\]: /);
    expect((await cloudjobs(['complete', id])).code).toBe(0);
    const watched = await cloudjobs(['watch', id]);
    expect(watched.code, watched.stderr).toBe(0);
    expect((await cloudjobs(['logs', id, 'second'])).stdout).toBe('second\n');
  });

  it('should list the deployment’s presets', async () => {
    // Through npx, as the README has a newcomer run the CLI: the package's bin must resolve.
    const listed = await cloudjobs(['presets'], { npx: true });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^NAME\s+CPUS\s+MEMORY\s+GPUS\s+NODES\s+POOL\s+SLOTS\s+DESCRIPTION$/m);
    expect(listed.stdout).toMatch(
      /^small\s+[\d.]+\s+[\d.]+ GiB\s+0\s+dedicated\s+local\s+1\s+one task slot of this machine$/m,
    );
    const json = JSON.parse((await cloudjobs(['presets', '--json'])).stdout) as Array<{
      name: string;
      pool: string;
    }>;
    expect(json.map((p) => p.name)).toContain('large');
  });

  it('should watch every job of the user until interrupted, without an id', async () => {
    const name = uniqueName('watched');
    // The command itself, not a group around it, so the interrupt reaches it as a user's Ctrl-C would.
    const [file, ...args] = cliCommand(['watch', '--name', name]);
    const child = spawn(file, args, {
      cwd: ROOT,
      env: aliceEnv(),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // It says when it is following: a job submitted from then on is in the stream.
    await waitFor(() => (err.includes('watching') ? true : undefined), { what: 'the stream to open' });
    const submitted = await cloudjobs(['submit', '-', '--json'], {
      stdin: JSON.stringify({ name, tasks: [{ id: 'a', command: 'true' }] }),
    });
    const { id } = JSON.parse(submitted.stdout) as { id: string };
    await waitFor(() => (out.includes(`${id} ${name} FINISHED`) ? true : undefined), {
      timeoutMs: 60_000,
      what: 'the FINISHED line',
    });
    child.kill('SIGINT');
    expect(await closed).toBe(0);
    const statuses = out
      .trim()
      .split('\n')
      .map((line) => /^\S+ (\S+) \S+ ([A-Z_]+)/.exec(line)!)
      .map(([, job, status]) => `${job === id ? 'job' : 'other'} ${status}`);
    expect(statuses[0]).toBe('job PENDING');
    expect(statuses.at(-1)).toBe('job FINISHED');
    expect(statuses.every((s) => s.startsWith('job '))).toBe(true);
  });

  it('should keep a login whose token works, readable by the user alone, and use it', async () => {
    const refused = await cloudjobs(
      ['login', '--url', runtime.url, '--token', 'nobody-has-this-token-0000'],
      {
        profileOnly: true,
      },
    );
    expect(refused.code).toBe(4);
    await expect(stat(path.join(dir, 'login', 'profile.json'))).rejects.toThrow();

    const login = await cloudjobs(['login', '--url', runtime.url], { profileOnly: true, stdin: `${BOB}\n` });
    expect(login.code, login.stderr).toBe(0);
    const profile = path.join(dir, 'login', 'profile.json');
    expect((await stat(profile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(profile, 'utf8'))).toEqual({ url: runtime.url, token: BOB });
    // No URL, no token given: the login's, so Bob sees his own jobs.
    const submitted = await cloudjobs(['submit', 'examples/hello.json', '--json'], { profileOnly: true });
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(JSON.parse(submitted.stdout)).toMatchObject({ owner: 'bob' });
    expect(login.stdout).toMatch(/logged in to .* as bob /);
    const whoami = await cloudjobs(['whoami'], { profileOnly: true });
    expect(whoami.stdout.trim()).toBe(`bob at ${runtime.url}`);
  });

  it('should offer help with an example on each command, and completion for bash and zsh', async () => {
    const help = await cloudjobs(['submit', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Examples?:\n {2}cloudjobs submit/);
    const bash = await cloudjobs(['completion', 'bash']);
    expect(bash.stdout).toMatch(/complete -F _cloudjobs cloudjobs/);
    expect(bash.stdout).toMatch(
      /submit resubmit add-tasks ls status history tasks watch logs outputs cancel/,
    );
    const zsh = await cloudjobs(['completion', 'zsh']);
    expect(zsh.stdout).toMatch(/^autoload -U \+X bashcompinit && bashcompinit/);
  });
});

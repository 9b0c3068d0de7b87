import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessRegistry } from '../../infra/local/batch/executor.js';
import { ProcessLauncher, type LaunchRequest } from '../../infra/local/batch/launcher.js';
import { ROOT } from '../support/runtimeProcess.js';
import { waitFor } from '../support/waitFor.js';

describe('the local Batch node’s process launcher', () => {
  let dir: string;
  let registry: ProcessRegistry;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'launcher-'));
    registry = new ProcessRegistry(path.join(dir, 'running'));
    await registry.prepare();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const request = (task: string, script: string): LaunchRequest => ({
    file: '/bin/sh',
    args: ['-c', script],
    cwd: dir,
    env: { PATH: process.env.PATH ?? '' },
    stdout: path.join(dir, `${task}.out`),
    stderr: path.join(dir, `${task}.err`),
    registry: { directory: registry.directory, owner: { job: 'job-1', task } },
  });

  it('should start a process, send its output to its files and report its exit', async () => {
    const launcher = new ProcessLauncher();
    const launched = launcher.launch(request('echo', 'echo out; echo err >&2; exit 4'));
    const pid = await launched.started;
    expect(pid).toBeGreaterThan(1);
    expect(await launched.ended).toEqual({ kind: 'exit', code: 4, signal: null });
    expect(await readFile(path.join(dir, 'echo.out'), 'utf8')).toBe('out\n');
    expect(await readFile(path.join(dir, 'echo.err'), 'utf8')).toBe('err\n');
    // The record holds the task and its exit until the node has dealt with it.
    expect((await readFile(path.join(registry.directory, String(pid)), 'utf8')).split('\n')).toEqual([
      JSON.stringify({ job: 'job-1', task: 'echo' }),
      JSON.stringify({ code: 4, signal: null }),
    ]);
    const missing = launcher.launch({ ...request('missing', ''), file: 'cloudjobs-no-such-program' });
    expect(await missing.started).toBeUndefined();
    expect(await missing.ended).toMatchObject({ kind: 'error', code: 'ENOENT' });
    await launcher.close();
  });

  it('should start a first attempt in a fresh task directory it lays out itself', async () => {
    const taskDir = path.join(dir, 'workitems', 'job-1', 'job-1', 'fresh');
    const workingDir = path.join(taskDir, 'wd');
    // What an earlier attempt left behind goes before the process starts.
    await mkdir(path.join(workingDir, 'old'), { recursive: true });
    await writeFile(path.join(workingDir, 'old', 'left.txt'), 'stale');
    const launcher = new ProcessLauncher();
    const launched = launcher.launch({
      ...request('fresh', 'pwd; ls -A'),
      cwd: workingDir,
      stdout: path.join(taskDir, 'stdout.txt'),
      stderr: path.join(taskDir, 'stderr.txt'),
      fresh: { remove: taskDir, create: workingDir },
    });
    expect(await launched.ended).toEqual({ kind: 'exit', code: 0, signal: null });
    expect(await readFile(path.join(taskDir, 'stdout.txt'), 'utf8')).toBe(`${workingDir}\n`);

    // A directory that cannot be laid out is a launch failure that says so, and nothing runs.
    const blocked = path.join(dir, 'a-file');
    await writeFile(blocked, '');
    const failed = launcher.launch({
      ...request('blocked', 'touch ran'),
      cwd: path.join(blocked, 'wd'),
      stdout: path.join(dir, 'blocked.out'),
      fresh: { remove: path.join(blocked, 'task'), create: path.join(blocked, 'task', 'wd') },
    });
    expect(await failed.started).toBeUndefined();
    expect(await failed.ended).toMatchObject({ kind: 'error', code: 'ENOTDIR', phase: 'directory' });
    expect(await stat(path.join(dir, 'blocked.out')).catch(() => undefined)).toBeUndefined();
    await launcher.close();
  });

  it('should record every exit when the service is killed while launches are in flight', async () => {
    // A service that sends twelve launches and is killed as soon as the first has started: the
    // helper still has launches to make and, until it sees the channel close, reports on a
    // channel nobody reads. That must not take it down before it has recorded the exits.
    const launcher = path.join(ROOT, 'infra/local/batch/launcher.ts');
    const service = `
      const { ProcessLauncher } = await import(${JSON.stringify(pathToFileURL(launcher).href)});
      const launcher = new ProcessLauncher();
      const launched = Array.from({ length: 12 }, (_, i) => launcher.launch({
        file: '/bin/sh', args: ['-c', 'sleep 0.2'], cwd: ${JSON.stringify(dir)}, env: { PATH: process.env.PATH },
        stdout: ${JSON.stringify(dir)} + '/t' + i + '.out', stderr: ${JSON.stringify(dir)} + '/t' + i + '.err',
        registry: { directory: ${JSON.stringify(registry.directory)}, owner: { job: 'job-1', task: 't' + i } },
      }));
      await launched[0].started;
      process.kill(process.pid, 'SIGKILL');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', service], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    await once(child, 'exit');
    const records = await waitFor(
      async () => {
        const names = await readdir(registry.directory);
        const texts = await Promise.all(
          names.map((name) => readFile(path.join(registry.directory, name), 'utf8')),
        );
        return names.length === 12 && texts.every((text) => text.includes('\n')) ? texts : undefined;
      },
      { timeoutMs: 10_000, what: 'twelve records with their exits' },
    );
    expect(records.map((text) => JSON.parse(text.split('\n')[1]!) as unknown)).toEqual(
      Array(12).fill({ code: 0, signal: null }),
    );
  });

  it('should record the exits of processes that end after the service is gone, for its next start', async () => {
    const launcher = new ProcessLauncher();
    const quick = launcher.launch(request('quick', 'sleep 0.3; exit 3'));
    const slow = launcher.launch(request('slow', 'sleep 30'));
    const [quickPid, slowPid] = [await quick.started, await slow.started];
    // The service goes away (as when it is killed, its end of the channel closes): the helper
    // stays for the processes it started.
    const helperGone = launcher.close();
    await waitFor(async () =>
      (await readFile(path.join(registry.directory, String(quickPid)), 'utf8')).includes('\n')
        ? true
        : undefined,
    );

    // The next start: the quick task ended (exit 3) and must not run again; the slow one is
    // still running, so its group is killed and it starts over.
    const next = new ProcessRegistry(registry.directory);
    const { ended, killed } = await next.recover();
    expect(ended).toEqual([{ job: 'job-1', task: 'quick', exitCode: 3 }]);
    expect(killed).toBe(1);
    await waitFor(async () =>
      (await readFile(`/proc/${slowPid}/stat`, 'utf8').catch(() => '')) ? undefined : true,
    );
    // With nothing left to watch, the helper leaves, and the records are gone.
    await helperGone;
    expect(await readdir(registry.directory)).toEqual([]);
  });
});

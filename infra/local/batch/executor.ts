import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { glob } from 'tinyglobby';
import { z } from 'zod';
import { splitCommandLine } from './commandLine.js';
import type { ProcessLauncher } from './launcher.js';
import type { FailureInfo, TaskAddParameter } from './model.js';
import { StagingError, type StorageAccess } from './storageAccess.js';

/** Where a task's files live, laid out as on a Batch node. */
export interface TaskDirectories {
  taskDir: string;
  workingDir: string;
}

export function taskDirectories(nodeRoot: string, jobId: string, taskId: string): TaskDirectories {
  const taskDir = path.join(nodeRoot, 'workitems', jobId, 'job-1', taskId);
  return { taskDir, workingDir: path.join(taskDir, 'wd') };
}

export async function resetTaskDirectory(dirs: TaskDirectories): Promise<void> {
  await rm(dirs.taskDir, { recursive: true, force: true });
  await mkdir(dirs.workingDir, { recursive: true });
}

/** Downloads a task's resource files into its working directory, as Batch does before it runs. */
export async function stageResourceFiles(
  access: StorageAccess,
  task: TaskAddParameter,
  workingDir: string,
): Promise<void> {
  for (const file of task.resourceFiles ?? []) {
    const target = file.filePath ? resolveInside(workingDir, file.filePath) : workingDir;
    if (file.autoStorageContainerName) {
      throw new StagingError({
        category: 'usererror',
        code: 'AutoStorageNotConfigured',
        message: 'The local Batch service has no auto-storage account; use storageContainerUrl or httpUrl',
      });
    }
    if (file.storageContainerUrl) {
      await access.downloadContainer(file.storageContainerUrl, file.blobPrefix, target, file.fileMode);
    } else if (file.httpUrl) {
      if (!file.filePath) {
        throw new StagingError({
          category: 'usererror',
          code: 'InvalidResourceFile',
          message: 'a resource file with httpUrl needs a filePath',
        });
      }
      await access.downloadUrl(file.httpUrl, target, file.fileMode, file.identityReference !== undefined);
    }
  }
}

function resolveInside(root: string, relative: string): string {
  const target = path.resolve(root, relative);
  if (target !== root && !target.startsWith(root + path.sep)) {
    throw new StagingError({
      category: 'usererror',
      code: 'InvalidResourceFile',
      message: `filePath "${relative}" leaves the task directory`,
    });
  }
  return target;
}

let dockerAvailable: Promise<boolean> | undefined;
/** Whether a Docker engine answers on this machine (checked once). */
export function hasDockerEngine(): Promise<boolean> {
  dockerAvailable ??= new Promise((resolve) => {
    execFile('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 5000 }, (error, stdout) => {
      resolve(!error && stdout.trim().length > 0);
    });
  });
  return dockerAvailable;
}

export interface AttemptOutcome {
  exitCode: number;
  failureInfo?: FailureInfo;
  /** Why the runtime stopped it, if it did. */
  stoppedBy?: 'wallclock' | 'stop';
  /**
   * Its process, whose registry record (with its exit) stays until the caller has recorded the
   * outcome: were the service killed before that, the next start still knows it ended.
   */
  pid?: number;
}

/** A running attempt of a task: its own process group, so a kill takes every child with it. */
export class TaskAttempt {
  readonly done: Promise<AttemptOutcome>;
  #kill: (reason: 'wallclock' | 'stop') => void = () => undefined;

  constructor(options: {
    task: TaskAddParameter;
    dirs: TaskDirectories;
    env: Record<string, string>;
    /** When the task's wall clock runs out, in ms since the epoch. */
    deadline?: number;
    /** Records the process group while it runs, so a restart can kill what a crash left behind. */
    processes: ProcessRegistry;
    launcher: ProcessLauncher;
    /** The task, as the process registry records it. */
    owner: { job: string; task: string };
    /** Whether the launcher empties and lays out the task directory first (a first attempt). */
    fresh?: boolean;
  }) {
    this.done = this.#run(options);
  }

  /** Kills the process tree (the task is being terminated, requeued or preempted). */
  stop(): void {
    this.#kill('stop');
  }

  async #run(options: {
    task: TaskAddParameter;
    dirs: TaskDirectories;
    env: Record<string, string>;
    deadline?: number;
    processes: ProcessRegistry;
    launcher: ProcessLauncher;
    owner: { job: string; task: string };
    fresh?: boolean;
  }): Promise<AttemptOutcome> {
    const { task, dirs, env } = options;
    let argv: string[];
    try {
      argv = splitCommandLine(task.commandLine);
    } catch (error) {
      return {
        exitCode: -1,
        failureInfo: { category: 'usererror', code: 'CommandLineInvalid', message: (error as Error).message },
      };
    }
    if (task.containerSettings) {
      if (!(await hasDockerEngine())) {
        return {
          exitCode: -1,
          failureInfo: {
            category: 'usererror',
            code: 'ContainerEngineUnavailable',
            message: `The task needs container image "${task.containerSettings.imageName}", but no Docker engine is available on this machine; it was not run on the host.`,
          },
        };
      }
      const envArgs = Object.keys(env).flatMap((name) => ['-e', name]);
      const runOptions = task.containerSettings.containerRunOptions
        ? splitCommandLine(task.containerSettings.containerRunOptions)
        : [];
      const workdir =
        task.containerSettings.workingDirectory === 'containerImageDefault' ? [] : ['-w', dirs.workingDir];
      argv = [
        'docker',
        'run',
        '--rm',
        '-v',
        `${dirs.taskDir}:${dirs.taskDir}`,
        ...workdir,
        ...envArgs,
        ...runOptions,
        task.containerSettings.imageName,
        ...argv,
      ];
    }
    if (argv.length === 0) {
      return {
        exitCode: -1,
        failureInfo: {
          category: 'usererror',
          code: 'CommandLineInvalid',
          message: 'the command line is empty',
        },
      };
    }

    const launched = options.launcher.launch({
      file: argv[0]!,
      args: argv.slice(1),
      cwd: dirs.workingDir,
      env,
      stdout: path.join(dirs.taskDir, 'stdout.txt'),
      stderr: path.join(dirs.taskDir, 'stderr.txt'),
      registry: { directory: options.processes.directory, owner: options.owner },
      ...(options.fresh ? { fresh: { remove: dirs.taskDir, create: dirs.workingDir } } : {}),
    });
    let stoppedBy: 'wallclock' | 'stop' | undefined;
    const child: { pid?: number; ended?: boolean } = {};
    this.#kill = (reason) => {
      if (stoppedBy || child.ended) return;
      stoppedBy = reason;
      if (child.pid !== undefined) killGroup(child.pid);
    };
    let timer: NodeJS.Timeout | undefined;
    if (options.deadline !== undefined) {
      timer = setTimeout(() => this.#kill('wallclock'), Math.max(0, options.deadline - Date.now()));
    }
    const pid = await launched.started;
    child.pid = pid;
    // Asked to stop before the process existed: it goes now.
    if (pid !== undefined && stoppedBy) killGroup(pid);
    const outcome = await launched.ended;
    child.ended = true;
    clearTimeout(timer);
    // The task's own children may outlive it; they belong to the task and go with it.
    if (pid !== undefined) killGroup(pid);
    if (outcome.kind === 'error' && outcome.phase === 'directory') {
      return {
        exitCode: -1,
        failureInfo: {
          category: 'servererror',
          code: 'TaskFailedToRun',
          message: `the node could not lay out the task directory ${dirs.taskDir}: ${outcome.message}`,
        },
      };
    }
    if (outcome.kind === 'error') {
      return {
        exitCode: -1,
        failureInfo: {
          category: 'usererror',
          code: outcome.code === 'ENOENT' ? 'CommandProgramNotFound' : 'CommandLaunchFailed',
          message: `The task's program "${argv[0]}" could not be started: ${outcome.message}`,
        },
      };
    }
    const exitCode = outcome.code ?? (outcome.signal ? 128 + (signalNumbers[outcome.signal] ?? 0) : -1);
    return { exitCode, ...(stoppedBy ? { stoppedBy } : {}), ...(pid !== undefined ? { pid } : {}) };
  }
}

/** A task process that ended while the runtime was not there to see it. */
export interface EndedProcess {
  job: string;
  task: string;
  exitCode: number;
}

const ownerSchema = z.object({ job: z.string(), task: z.string() });
const exitSchema = z.object({ code: z.number().nullable(), signal: z.string().nullable() });

/**
 * Task processes, one file each (named by pid, written by the process launcher: the task it
 * runs, then its exit), so that the next start knows what a crash left: processes that ended
 * meanwhile, and how, and process groups still running (task processes are their own groups and
 * outlive a killed service).
 */
export class ProcessRegistry {
  constructor(readonly directory: string) {}

  async prepare(): Promise<void> {
    await mkdir(this.directory, { recursive: true });
  }

  async remove(pid: number): Promise<void> {
    await rm(path.join(this.directory, String(pid)), { force: true });
  }

  /**
   * Reads what an earlier run left: the processes that ended (their tasks ran to the end and
   * must not run again), and kills every group still running (their tasks start over).
   */
  async recover(): Promise<{ ended: EndedProcess[]; killed: number }> {
    const ended: EndedProcess[] = [];
    let killed = 0;
    for (const name of await readdir(this.directory).catch(() => [] as string[])) {
      const pid = Number(name);
      const file = path.join(this.directory, name);
      const [ownerLine, exitLine] = (await readFile(file, 'utf8').catch(() => '')).split('\n');
      const owner = parseJson(ownerSchema, ownerLine);
      const exit = parseJson(exitSchema, exitLine);
      if (owner && exit) {
        const exitCode = exit.code ?? (exit.signal ? 128 + (signalNumbers[exit.signal] ?? 0) : -1);
        ended.push({ ...owner, exitCode });
      } else if (Number.isInteger(pid) && pid > 1) {
        try {
          process.kill(-pid, 'SIGKILL');
          killed++;
        } catch {
          // Gone already, without a word from its launcher (which was killed too): it starts over.
        }
      }
      await rm(file, { force: true });
    }
    return { ended, killed };
  }
}

function parseJson<T>(schema: z.ZodType<T>, text: string | undefined): T | undefined {
  if (!text) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

const signalNumbers: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
  SIGSEGV: 11,
  SIGABRT: 6,
};

const WILDCARD = /[*?[\]{}]/;

/** The non-wildcard leading directories of a pattern: the base blob names are relative to. */
function patternBase(pattern: string): string {
  const parts = pattern.split('/');
  const base: string[] = [];
  for (const part of parts.slice(0, -1)) {
    if (WILDCARD.test(part)) break;
    base.push(part);
  }
  return base.join('/');
}

/** Uploads one task runs at the same time: a node's upload of many small files is latency-bound. */
const UPLOADS_AT_ONCE = 8;

type OutputFile = NonNullable<TaskAddParameter['outputFiles']>[number];

interface Upload {
  containerUrl: string;
  blobName: string;
  file: string;
  headers: Array<{ name: string; value?: string }> | undefined;
}

/** Compiled matchers of last segments, by segment: a job's tasks all ask for the same few. */
const segmentMatchers = new Map<string, (name: string) => boolean>();

/**
 * The files matched by a pattern whose wildcards are all in its last segment (`../std*.txt`, as
 * every cloudjobs task's logs are): one directory listing and a matcher compiled once, where a
 * crawl planned and compiled anew for each task was the largest cost of the node's own per task
 * (0.35 ms of CPU, on the runtime's busy thread). Undefined for any other pattern.
 */
async function lastSegmentMatches(pattern: string, workingDir: string): Promise<string[] | undefined> {
  const slash = pattern.lastIndexOf('/');
  const directory = pattern.slice(0, slash + 1);
  const segment = pattern.slice(slash + 1);
  if (WILDCARD.test(directory) || segment.includes('**')) return undefined;
  let match = segmentMatchers.get(segment);
  if (!match) {
    match = picomatch(segment, { dot: true });
    if (segmentMatchers.size >= 256) segmentMatchers.clear();
    segmentMatchers.set(segment, match);
  }
  const dir = path.resolve(workingDir, directory || '.');
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    if (!match(entry.name)) continue;
    const file = path.join(dir, entry.name);
    // A link to a file is a file here, as the crawler following links counts it.
    const isFile =
      entry.isFile() ||
      (entry.isSymbolicLink() &&
        (await stat(file).then(
          (s) => s.isFile(),
          () => false,
        )));
    if (isFile) files.push(file);
  }
  return files;
}

/** The uploads one output file specification asks for: the files it matches and their blob names. */
async function plannedUploads(output: OutputFile, workingDir: string): Promise<Upload[]> {
  const pattern = output.filePattern.replace(/\\/g, '/');
  const destination = output.destination.container;
  const upload = (file: string, blobName: string): Upload => ({
    containerUrl: destination.containerUrl,
    blobName,
    file,
    headers: destination.uploadHeaders,
  });
  if (!WILDCARD.test(pattern)) {
    const file = path.resolve(workingDir, pattern);
    const exists = await stat(file).then(
      (s) => s.isFile(),
      () => false,
    );
    return exists ? [upload(file, destination.path ?? path.basename(file))] : [];
  }
  const prefix = destination.path?.replace(/\/+$/, '') ?? '';
  const base = path.resolve(workingDir, patternBase(pattern));
  const files =
    (await lastSegmentMatches(pattern, workingDir)) ??
    (await glob(pattern, { cwd: workingDir, absolute: true, onlyFiles: true, dot: true }));
  return files.sort().map((file) => {
    const relative = path.relative(base, file).split(path.sep).join('/');
    return upload(file, prefix ? `${prefix}/${relative}` : relative);
  });
}

/**
 * Uploads a task's output files whose upload condition matches, as Batch does when a task ends:
 * a pattern without wildcards names one blob (`path`), a pattern with wildcards puts every match
 * under the `path` prefix, keeping its place relative to the pattern's fixed directories.
 */
export async function uploadOutputFiles(
  access: Pick<StorageAccess, 'uploadFile'>,
  task: TaskAddParameter,
  workingDir: string,
  succeeded: boolean,
): Promise<void> {
  const wanted = (task.outputFiles ?? []).filter((output) => {
    const condition = output.uploadOptions.uploadCondition;
    return !((condition === 'tasksuccess' && !succeeded) || (condition === 'taskfailure' && succeeded));
  });
  const planned = await Promise.allSettled(wanted.map((output) => plannedUploads(output, workingDir)));
  const uploads = planned.flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
  // Files upload side by side, as the Batch node agent uploads them (a task's logs are two files
  // matched by one pattern: one after the other, a task held its slot through two round trips).
  // Every upload is tried; the first failure is reported.
  const failures = planned.flatMap((result): unknown[] =>
    result.status === 'rejected' ? [result.reason] : [],
  );
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < uploads.length) {
      const upload = uploads[next++]!;
      try {
        await access.uploadFile(upload.containerUrl, upload.blobName, upload.file, upload.headers);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(UPLOADS_AT_ONCE, uploads.length) }, worker));
  if (failures.length > 0) throw failures[0];
}

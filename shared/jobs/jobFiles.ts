import { NotFoundError, ValidationError } from '../errors.js';
import { relativePathProblem } from '../domain/paths.js';
import type { Caller } from '../identity.js';
import type { JobsApi } from './jobsApi.js';
import { listTaskOutputs, type OutputFile } from './jobRunner.js';
import { dataContainer, jobLayout, writtenTo, type JobFilesLayout } from '../domain/jobLayout.js';
import type { BlobContainer, BlobContainers } from '../store/blobStore.js';
import type { ComputeBackend } from '../compute/compute.js';
import { isFinal } from '../domain/lifecycle.js';
import type { GraphTask } from '../domain/taskState.js';
import { followTaskLog } from './taskLogs.js';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { ZipArchive } from 'archiver';
import { z } from 'zod';

const LOG_TYPE = 'text/plain; charset=utf-8';

/** Query of `GET /jobs/{id}/tasks/{taskId}/logs/{stream}`. */
export const taskLogQuerySchema = z.strictObject({
  follow: z
    .enum(['true', 'false'])
    .optional()
    .describe('stream a running task’s log as it grows, until it ends (ask again from `offset` if cut)'),
  offset: z.coerce.number().int().min(0).optional().describe('start at this byte: what a reader already has'),
});

/** The `{attempt}` of `.../attempts/{attempt}/logs/{stream}`: 1 is the first run. */
export const attemptParamSchema = z.coerce.number().int().min(1).max(100_000).describe('attempt');

/** Query of `GET /jobs/{id}/outputs.zip`. */
export const outputsZipQuerySchema = z.strictObject({
  task: z.string().min(1).max(64).optional().describe('only this task’s outputs'),
  prefix: z
    .string()
    .min(1)
    .max(1024)
    .optional()
    .describe('only outputs whose path (`<taskId>/<path>`, as listed) begins with this'),
});

/** A file to send: its bytes as a stream, and what to say about them. */
export interface FileBody {
  stream: NodeJS.ReadableStream;
  contentType: string;
  contentLength?: number;
  lastModified?: Date;
}

/** A task's attempts, as `GET /jobs/{id}/tasks/{taskId}/attempts` answers them. */
export interface TaskAttempts {
  taskId: string;
  running: boolean;
  items: Array<{ attempt: number; running: boolean; stdoutBytes?: number; stderrBytes?: number }>;
}

/** The log file of an attempt: numbered when the task logs attempts apart, else Batch's own. */
function attemptFile(stream: 'stdout' | 'stderr', attempt: number | undefined): string {
  return attempt === undefined ? `${stream}.txt` : `${stream}-${attempt}.txt`;
}

/** The highest attempt among log names `stdout-<n>.txt`, or undefined when there are none. */
function maxAttempt(names: readonly string[]): number | undefined {
  let max: number | undefined;
  for (const name of names) {
    const n = /^std(?:out|err)-(\d+)\.txt$/.exec(name)?.[1];
    if (n !== undefined) max = Math.max(max ?? 0, Number(n));
  }
  return max;
}

/** The outputs of a job: archived (the manifest) or, before archiving, as uploaded so far. */
export interface OutputListing {
  archived: boolean;
  files: OutputFile[];
  bytes: number;
}

/** A job's task graph, as `GET /jobs/{id}/graph` answers it. */
export interface TaskGraph {
  planned: boolean;
  tasks: Array<{
    id: string;
    dependsOn: string[];
    dependsOnRanges: Array<[number, number]>;
    runDependentsOnFailure: boolean;
  }>;
}

export interface JobFilesOptions {
  jobs: JobsApi;
  /** Where running tasks' logs are read from while they grow. */
  compute: Pick<ComputeBackend, 'getTask' | 'readTaskFile'>;
  /** How long one follow of a log lasts before the client asks again from where it got to. */
  followMs: number;
  /** Between reads of a running task's log; 500 ms unless given. */
  followPollMs?: number;
  /** The container holding each job's files (see `jobLayout`). */
  jobsContainer: string;
  blobs: BlobContainers;
}

/** Task logs and job outputs, read from storage for the job's owner. */
export class JobFiles {
  constructor(private readonly o: JobFilesOptions) {}

  /**
   * A task's stdout or stderr from byte `offset`: of a running task, what its node has now (or,
   * with `follow`, as it grows, then the rest from the upload once it ends, for up to `followMs`);
   * of an ended one, what Batch uploaded. Undefined when a follow has nothing left to send: the
   * task has ended and the reader has it all.
   */
  async log(
    caller: Caller,
    jobId: string,
    taskId: string,
    stream: 'stdout' | 'stderr',
    options: { follow?: boolean; offset?: number; attempt?: number } = {},
  ): Promise<FileBody | undefined> {
    const { folder, logs, task, running } = await this.#taskLogs(caller, jobId, taskId);
    const attempts = await this.#attemptCount(logs, folder, jobId, taskId, running);
    if (options.attempt !== undefined && options.attempt > Math.max(1, attempts ?? 1)) {
      throw new NotFoundError(
        `task ${taskId} of job ${jobId} has no attempt ${options.attempt} (it has had ${Math.max(1, attempts ?? 0)})`,
        'ATTEMPT_NOT_FOUND',
      );
    }
    const file = attemptFile(stream, attempts === undefined ? undefined : (options.attempt ?? attempts));
    const uploaded = { container: logs, name: `${folder}/${file}` };
    const offset = options.offset ?? 0;
    const missing = () =>
      new NotFoundError(
        `task ${taskId} of job ${jobId} has no ${stream} yet: it has not started`,
        'LOG_NOT_FOUND',
      );
    if (options.follow && (running || task === undefined)) {
      if (task === undefined && !(await uploaded.container.exists(uploaded.name))) {
        const job = await this.o.jobs.job(caller, jobId);
        // A task Batch does not know of yet may start later; not once the job has ended.
        if (isFinal(job.status)) throw missing();
      }
      const signal = AbortSignal.timeout(this.o.followMs);
      const source = {
        compute: this.o.compute,
        uploaded,
        jobId,
        taskId,
        file,
        from: offset,
        // Following the latest attempt goes on to the next; following a chosen one stays with it.
        ...(attempts !== undefined && options.attempt === undefined
          ? {
              attempts: {
                current: () => this.#nodeAttempts(jobId, taskId),
                file: (n: number) => attemptFile(stream, n),
              },
            }
          : {}),
      };
      return {
        stream: Readable.from(
          followTaskLog(source, { signal, ...(this.o.followPollMs ? { pollMs: this.o.followPollMs } : {}) }),
        ),
        contentType: LOG_TYPE,
      };
    }
    if (running) {
      const node = await this.o.compute.readTaskFile(jobId, taskId, file, offset);
      if (node) return { stream: node, contentType: LOG_TYPE };
    }
    // Batch uploads logs without a content type; they are text whatever the blob says.
    const body = await this.#open(uploaded.container, uploaded.name, LOG_TYPE, true, offset);
    if (!body) throw missing();
    if (options.follow && body.contentLength === 0) return undefined;
    return body;
  }

  /**
   * A task's attempts, each with the size of its logs: a task that may retry logs each attempt
   * apart (see `ATTEMPT_LOG_LINES`); one that runs once has one attempt, its plain logs.
   * While it runs, what its node has; once it has ended, what was uploaded.
   */
  async attempts(caller: Caller, jobId: string, taskId: string): Promise<TaskAttempts> {
    const { folder, logs, task, running } = await this.#taskLogs(caller, jobId, taskId);
    const sizes = new Map<string, number>();
    if (!running)
      for await (const blob of logs.list(`${folder}/`))
        sizes.set(blob.name.slice(folder.length + 1), blob.size);
    const count = running ? await this.#nodeAttempts(jobId, taskId) : maxAttempt([...sizes.keys()]);
    if (
      count === undefined &&
      !running &&
      !sizes.has('stdout.txt') &&
      !sizes.has('stderr.txt') &&
      task === undefined
    ) {
      throw new NotFoundError(`task ${taskId} of job ${jobId} has not started`, 'LOG_NOT_FOUND');
    }
    const items = Array.from({ length: count ?? 1 }, (_, i) => {
      const n = i + 1;
      const size = (stream: 'stdout' | 'stderr') =>
        sizes.get(attemptFile(stream, count === undefined ? undefined : n));
      const stdout = size('stdout');
      const stderr = size('stderr');
      return {
        attempt: n,
        running: running && n === (count ?? 1),
        ...(stdout !== undefined ? { stdoutBytes: stdout } : {}),
        ...(stderr !== undefined ? { stderrBytes: stderr } : {}),
      };
    });
    return { taskId, running, items };
  }

  /** Where a task of the caller's job logs, and whether it runs now (Batch's word). */
  async #taskLogs(caller: Caller, jobId: string, taskId: string) {
    await this.o.jobs.job(caller, jobId);
    const layout = await this.#layout(jobId);
    const task = await this.o.compute.getTask(jobId, taskId);
    return {
      folder: jobLayout.taskLogs(jobId, layout.logs.folder, taskId),
      logs: this.o.blobs(writtenTo(layout, this.o.jobsContainer).logs),
      task,
      running: task !== undefined && task.state !== 'completed',
    };
  }

  /** How many attempts a task has logged apart: from its node while it runs, else from the uploads. */
  async #attemptCount(
    logs: BlobContainer,
    folder: string,
    jobId: string,
    taskId: string,
    running: boolean,
  ): Promise<number | undefined> {
    if (running) return this.#nodeAttempts(jobId, taskId);
    const names: string[] = [];
    for await (const blob of logs.list(`${folder}/stdout-`)) names.push(blob.name.slice(folder.length + 1));
    return maxAttempt(names);
  }

  /** The attempt counter a retried task keeps on its node (see `ATTEMPT_LOG_LINES`). */
  async #nodeAttempts(jobId: string, taskId: string): Promise<number | undefined> {
    const stream = await this.o.compute.readTaskFile(jobId, taskId, 'attempt', 0);
    if (!stream) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
    const n = Number(Buffer.concat(chunks).toString('utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  }

  async outputs(caller: Caller, jobId: string): Promise<OutputListing> {
    await this.o.jobs.job(caller, jobId);
    const jobs = this.o.blobs(this.o.jobsContainer);
    const manifest = await jobs.readJson<{ files: OutputFile[]; bytes: number }>(
      jobLayout.outputsManifest(jobId),
    );
    if (manifest) return { archived: true, files: manifest.files, bytes: manifest.bytes };
    const { files, bytes } = await listTaskOutputs(await this.#outputs(jobId), jobId);
    return { archived: false, files, bytes };
  }

  /**
   * The job's outputs (or one task's, or those under a prefix) as one zip, streamed: each file is
   * read from storage only when the archive reaches it, so neither the app nor storage holds more
   * than a file's buffers at once, whatever the total. Entries keep their listed paths
   * (`<taskId>/<path>`) and times; zip64 takes over past 4 GiB. Answers the file name to give it.
   */
  async outputsZip(
    caller: Caller,
    jobId: string,
    query: { task?: string; prefix?: string },
  ): Promise<FileBody & { fileName: string; files: number }> {
    const problem =
      query.prefix === undefined ? undefined : relativePathProblem(query.prefix.replace(/\/$/, ''));
    if (problem) throw new ValidationError('the prefix is invalid', [{ path: 'prefix', message: problem }]);
    const listing = await this.outputs(caller, jobId);
    const files = listing.files.filter(
      (file) =>
        (query.task === undefined || file.taskId === query.task) &&
        (query.prefix === undefined || file.path.startsWith(query.prefix)),
    );
    if (files.length === 0) {
      const which = query.task ? ` of task ${query.task}` : query.prefix ? ` under ${query.prefix}` : '';
      throw new NotFoundError(`job ${jobId} has no outputs${which}`, 'OUTPUT_NOT_FOUND');
    }
    const jobs = await this.#outputs(jobId);
    // Fast, not small: outputs are often compressed already, and the archive is made per request.
    const archive = new ZipArchive({ zlib: { level: 1 } });
    // A reader that goes away closes the archive: then stop reading storage too.
    const gone = new AbortController();
    archive.once('close', () => gone.abort());
    const feed = async () => {
      for (const file of files) {
        if (gone.signal.aborted) return;
        const download = await jobs.download(`${jobLayout.taskOutputs(jobId)}${file.path}`);
        // A file removed since the listing is left out rather than failing what was sent so far.
        if (!download) continue;
        const source = download.stream as Readable;
        const added = once(archive, 'entry', { signal: gone.signal });
        archive.append(source, { name: file.path, date: new Date(file.lastModified) });
        try {
          await added;
        } catch (error) {
          source.destroy();
          throw error;
        }
      }
      await archive.finalize();
    };
    feed().catch((error: unknown) => {
      if (!gone.signal.aborted) archive.destroy(error as Error);
    });
    const name = query.task ? `${jobId}-${query.task}` : `${jobId}-outputs`;
    return { stream: archive, contentType: 'application/zip', fileName: `${name}.zip`, files: files.length };
  }

  /**
   * The job's task graph as planned: each task with the tasks it waits for (`dependsOnRanges` are
   * Batch's ranges of numeric task ids, kept as ranges because a sweep's can name thousands).
   * Empty and not `planned` until the job's inputs have been processed.
   */
  async graph(caller: Caller, jobId: string): Promise<TaskGraph> {
    await this.o.jobs.job(caller, jobId);
    const stored = await this.o
      .blobs(this.o.jobsContainer)
      .readJson<{ tasks: GraphTask[] }>(jobLayout.graph(jobId));
    if (!stored) return { planned: false, tasks: [] };
    return {
      planned: true,
      tasks: stored.tasks.map((task) => ({
        id: task.id,
        dependsOn: [...task.dependsOn],
        dependsOnRanges: task.dependsOnRanges.map(([start, end]) => [start, end] as [number, number]),
        runDependentsOnFailure: task.runDependentsOnFailure,
      })),
    };
  }

  /** One output file, `<taskId>/<path>` as the listing names it. */
  async output(caller: Caller, jobId: string, path: string): Promise<FileBody> {
    const problem = relativePathProblem(path);
    if (problem)
      throw new ValidationError('the output path is invalid', [{ path: 'path', message: problem }]);
    await this.o.jobs.job(caller, jobId);
    const body = await this.#open(
      await this.#outputs(jobId),
      `${jobLayout.taskOutputs(jobId)}${path}`,
      'application/octet-stream',
    );
    if (!body) throw new NotFoundError(`job ${jobId} has no output ${path}`, 'OUTPUT_NOT_FOUND');
    return body;
  }

  /** The container a job's tasks wrote their outputs to (none yet: its own, which is empty). */
  async #outputs(jobId: string): Promise<BlobContainer> {
    const layout = await this.o.blobs(this.o.jobsContainer).readJson<JobFilesLayout>(jobLayout.files(jobId));
    return this.o.blobs(layout ? writtenTo(layout, this.o.jobsContainer).outputs : dataContainer(jobId));
  }

  async #layout(jobId: string): Promise<JobFilesLayout> {
    const layout = await this.o.blobs(this.o.jobsContainer).readJson<JobFilesLayout>(jobLayout.files(jobId));
    if (!layout) throw new NotFoundError(`job ${jobId} has not started any task yet`, 'LOG_NOT_FOUND');
    return layout;
  }

  async #open(
    container: BlobContainer,
    name: string,
    fallbackType: string,
    forceType = false,
    offset = 0,
  ): Promise<FileBody | undefined> {
    const download = await container.download(name, offset);
    if (!download) return undefined;
    return {
      stream: download.stream,
      contentType: forceType ? fallbackType : (download.contentType ?? fallbackType),
      ...(download.contentLength !== undefined ? { contentLength: download.contentLength } : {}),
      ...(download.lastModified ? { lastModified: download.lastModified } : {}),
    };
  }
}

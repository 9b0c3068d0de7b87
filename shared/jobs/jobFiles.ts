import { NotFoundError, ValidationError } from '../errors.js';
import { relativePathProblem } from '../domain/paths.js';
import type { Caller } from '../identity.js';
import type { JobsApi } from './jobsApi.js';
import { listTaskOutputs, type OutputFile } from './jobRunner.js';
import { jobLayout, type JobFilesLayout } from '../domain/jobLayout.js';
import type { BlobContainer, BlobContainers } from '../store/blobStore.js';

/** A file to send: its bytes as a stream, and what to say about them. */
export interface FileBody {
  stream: NodeJS.ReadableStream;
  contentType: string;
  contentLength?: number;
  lastModified?: Date;
}

/** The outputs of a job: archived (the manifest) or, before archiving, as uploaded so far. */
export interface OutputListing {
  archived: boolean;
  files: OutputFile[];
  bytes: number;
}

export interface JobFilesOptions {
  jobs: JobsApi;
  /** The container holding each job's files (see `jobLayout`). */
  jobsContainer: string;
  blobs: BlobContainers;
}

/** Task logs and job outputs, read from storage for the job's owner. */
export class JobFiles {
  constructor(private readonly o: JobFilesOptions) {}

  /** A task's stdout or stderr, as Batch uploaded it when the task (attempt) ended. */
  async log(caller: Caller, jobId: string, taskId: string, stream: 'stdout' | 'stderr'): Promise<FileBody> {
    await this.o.jobs.job(caller, jobId);
    const layout = await this.#layout(jobId);
    const name = `${jobLayout.taskLogs(jobId, layout.logs.folder, taskId)}/${stream}.txt`;
    // Batch uploads logs without a content type; they are text whatever the blob says.
    const body = await this.#open(
      this.o.blobs(layout.logs.container),
      name,
      'text/plain; charset=utf-8',
      true,
    );
    if (!body) {
      throw new NotFoundError(
        `task ${taskId} of job ${jobId} has no ${stream} yet: logs are uploaded when a task ends`,
        'LOG_NOT_FOUND',
      );
    }
    return body;
  }

  async outputs(caller: Caller, jobId: string): Promise<OutputListing> {
    await this.o.jobs.job(caller, jobId);
    const jobs = this.o.blobs(this.o.jobsContainer);
    const manifest = await jobs.readJson<{ files: OutputFile[]; bytes: number }>(
      jobLayout.outputsManifest(jobId),
    );
    if (manifest) return { archived: true, files: manifest.files, bytes: manifest.bytes };
    const { files, bytes } = await listTaskOutputs(jobs, jobId);
    return { archived: false, files, bytes };
  }

  /** One output file, `<taskId>/<path>` as the listing names it. */
  async output(caller: Caller, jobId: string, path: string): Promise<FileBody> {
    const problem = relativePathProblem(path);
    if (problem)
      throw new ValidationError('the output path is invalid', [{ path: 'path', message: problem }]);
    await this.o.jobs.job(caller, jobId);
    const body = await this.#open(
      this.o.blobs(this.o.jobsContainer),
      `${jobLayout.taskOutputs(jobId)}${path}`,
      'application/octet-stream',
    );
    if (!body) throw new NotFoundError(`job ${jobId} has no output ${path}`, 'OUTPUT_NOT_FOUND');
    return body;
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
  ): Promise<FileBody | undefined> {
    const download = await container.download(name);
    if (!download) return undefined;
    return {
      stream: download.stream,
      contentType: forceType ? fallbackType : (download.contentType ?? fallbackType),
      ...(download.contentLength !== undefined ? { contentLength: download.contentLength } : {}),
      ...(download.lastModified ? { lastModified: download.lastModified } : {}),
    };
  }
}

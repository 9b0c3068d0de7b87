import type { ContainerClient } from '@azure/storage-blob';
import { NotFoundError, ValidationError } from '../errors.js';
import { relativePathProblem } from '../domain/paths.js';
import type { Caller } from '../identity.js';
import type { JobsApi } from './jobsApi.js';
import { layoutName, listTaskOutputs, type JobFilesLayout, type OutputFile } from './jobRunner.js';
import { taskLogPrefix } from '../domain/batchPlan.js';

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
  /** The container holding `<jobId>/tasks/...`, `<jobId>/outputs.json` and the plan. */
  jobsContainer: string;
  blobs: (container: string) => ContainerClient;
}

/** Task logs and job outputs, read from storage for the job's owner. */
export class JobFiles {
  constructor(private readonly o: JobFilesOptions) {}

  /** A task's stdout or stderr, as Batch uploaded it when the task (attempt) ended. */
  async log(caller: Caller, jobId: string, taskId: string, stream: 'stdout' | 'stderr'): Promise<FileBody> {
    await this.o.jobs.job(caller, jobId);
    const layout = await this.#layout(jobId);
    const name = `${taskLogPrefix(jobId, layout, taskId)}/${stream}.txt`;
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
    const manifest = jobs.getBlobClient(`${jobId}/outputs.json`);
    try {
      const parsed = JSON.parse((await manifest.downloadToBuffer()).toString('utf8')) as {
        files: OutputFile[];
        bytes: number;
      };
      return { archived: true, files: parsed.files, bytes: parsed.bytes };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
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
      `${jobId}/tasks/${path}`,
      'application/octet-stream',
    );
    if (!body) throw new NotFoundError(`job ${jobId} has no output ${path}`, 'OUTPUT_NOT_FOUND');
    return body;
  }

  async #layout(jobId: string): Promise<JobFilesLayout> {
    try {
      const buffer = await this.o
        .blobs(this.o.jobsContainer)
        .getBlobClient(layoutName(jobId))
        .downloadToBuffer();
      return JSON.parse(buffer.toString('utf8')) as JobFilesLayout;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      throw new NotFoundError(`job ${jobId} has not started any task yet`, 'LOG_NOT_FOUND');
    }
  }

  async #open(
    container: ContainerClient,
    name: string,
    fallbackType: string,
    forceType = false,
  ): Promise<FileBody | undefined> {
    try {
      const download = await container.getBlobClient(name).download();
      if (!download.readableStreamBody) return undefined;
      return {
        stream: download.readableStreamBody,
        contentType: forceType ? fallbackType : (download.contentType ?? fallbackType),
        ...(download.contentLength !== undefined ? { contentLength: download.contentLength } : {}),
        ...(download.lastModified ? { lastModified: download.lastModified } : {}),
      };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }
}

import { z } from 'zod';
import { AppError, NotFoundError, ValidationError } from '../errors.js';
import type { Caller } from '../identity.js';
import { parseInput } from '../domain/issues.js';
import { relativePathProblem } from '../domain/paths.js';
import { deleteUnder, type BlobContainer } from '../store/blobStore.js';
import type { UploadSigner, UploadUrl } from './inboxApi.js';
import type { FileBody } from './jobFiles.js';
import { userFilesLayout } from '../domain/jobLayout.js';

/**
 * Why a path in one's own files (`files://<path>`, `GET /files/<path>`) cannot be used, or
 * undefined. Besides the rules for any relative path, a segment may not be empty or `.`: storage
 * would keep such a name as written, and `a//b` and `a/./b` would be different files to it but the
 * same to every tool that mirrors a folder.
 */
export function userFilePathProblem(path: string, folder: 'file' | 'folder' | 'either'): string | undefined {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  if (path.endsWith('/') && folder === 'file') return 'names a folder (it ends in "/"): name a file';
  if (!path.endsWith('/') && folder === 'folder') return 'must end in "/" (a folder)';
  const problem = relativePathProblem(trimmed);
  if (problem) return problem;
  if (trimmed.split('/').some((segment) => segment === '' || segment === '.')) {
    return 'must not have empty or "." segments';
  }
  return undefined;
}

const filePath = (folder: 'file' | 'either') =>
  z
    .string()
    .max(900)
    .superRefine((value, context) => {
      const problem = userFilePathProblem(value, folder);
      if (problem) context.addIssue({ code: 'custom', message: problem });
    });

/** Query of `GET /files/upload-url`. */
export const fileUploadQuerySchema = z.strictObject({
  path: filePath('file').describe('where the file goes in your files, e.g. `datasets/a.csv`'),
});

/** Query of `GET /files`. */
export const listFilesQuerySchema = z.strictObject({
  prefix: z
    .string()
    .max(900)
    .optional()
    .describe('only files whose path begins with this (a folder ends in `/`)'),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(5000)
    .optional()
    .describe('at most this many (1000 unless given)'),
  continuation: z.string().max(4096).optional().describe('from the `continuation` of the page before'),
});

/** One of a user's files, as `GET /files` lists it. */
export interface UserFile {
  path: string;
  size: number;
  contentType?: string;
  lastModified: string;
}

export interface UserFilesOptions {
  container: BlobContainer;
  /** Signs create/write/read URLs for one blob of `container`. */
  signer: UploadSigner;
  /** How long an upload URL lasts: long enough for a large file's blocks. */
  lifetimeMinutes: number;
  now?: () => Date;
}

/**
 * Users' own files, under `<owner>/` of the uploads container: uploaded straight to storage with a
 * per-blob URL (so a gigabyte never passes through the app), listed, downloaded and removed through
 * the API, and usable as job inputs (`files://<path>`). Every path is the caller's own: there is no
 * way to name another owner's folder.
 */
export class UserFiles {
  readonly #now: () => Date;

  constructor(private readonly o: UserFilesOptions) {
    this.#now = o.now ?? (() => new Date());
  }

  /**
   * A URL that writes one file of the caller's (create and write, and read of that one blob so a
   * client resuming a block upload can ask which blocks storage already has). Put the file in one
   * request, or in blocks (Put Block, then Put Block List) for large ones.
   */
  async uploadUrl(
    caller: Caller,
    query: unknown,
  ): Promise<UploadUrl & { path: string; method: 'PUT'; headers: Record<string, string> }> {
    const { path } = parseInput(fileUploadQuerySchema, query);
    const expiresOn = new Date(this.#now().getTime() + this.o.lifetimeMinutes * 60_000);
    const url = await this.o.signer.uploadUrl(userFilesLayout.blob(caller.owner, path), expiresOn);
    return { ...url, path, method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' } };
  }

  /** The caller's files whose path begins with `prefix`, in path order, a page at a time. */
  async list(caller: Caller, query: unknown): Promise<{ items: UserFile[]; continuation?: string }> {
    const { prefix = '', limit = 1000, continuation } = parseInput(listFilesQuerySchema, query);
    if (prefix.includes('..') || prefix.startsWith('/') || prefix.includes('\\')) {
      throw new ValidationError('the prefix is invalid', [
        { path: 'prefix', message: 'must be a relative path inside your files' },
      ]);
    }
    const folder = userFilesLayout.folder(caller.owner);
    const page = await this.o.container.listPage(`${folder}${prefix}`, limit, continuation);
    return {
      items: page.items.map((blob) => ({
        path: blob.name.slice(folder.length),
        size: blob.size,
        ...(blob.contentType ? { contentType: blob.contentType } : {}),
        lastModified: blob.lastModified.toISOString(),
      })),
      ...(page.continuation ? { continuation: page.continuation } : {}),
    };
  }

  /** One of the caller's files from byte `offset` (for `length` bytes, or to its end). */
  async download(
    caller: Caller,
    path: string,
    range: { offset?: number; length?: number } = {},
  ): Promise<FileBody & { size: number }> {
    this.#checkPath(path, 'file');
    const name = userFilesLayout.blob(caller.owner, path);
    const properties = await this.o.container.properties(name);
    if (!properties) throw missing(path);
    // An empty file has no range to give: it comes whole (nothing), whatever was asked.
    if (properties.size === 0) range = {};
    const offset = range.offset ?? 0;
    if (offset > 0 && offset >= properties.size) {
      throw new AppError(
        'RANGE_NOT_SATISFIABLE',
        `file ${path} has ${properties.size} bytes: a range from byte ${offset} is past its end`,
        416,
        'none',
        { details: { size: properties.size } },
      );
    }
    const download = await this.o.container.download(name, offset, range.length);
    if (!download) throw missing(path);
    return {
      stream: download.stream,
      contentType: download.contentType ?? 'application/octet-stream',
      size: properties.size,
      ...(download.contentLength !== undefined ? { contentLength: download.contentLength } : {}),
      ...(download.lastModified ? { lastModified: download.lastModified } : {}),
    };
  }

  /**
   * Removes one of the caller's files, or with a path ending in `/` every file under that folder;
   * answers how many went. Nothing there is a 404, so a typo does not pass for success.
   */
  async remove(caller: Caller, path: string): Promise<{ removed: number }> {
    this.#checkPath(path, 'either');
    const name = userFilesLayout.blob(caller.owner, path);
    if (!path.endsWith('/')) {
      if (!(await this.o.container.exists(name))) throw missing(path);
      await this.o.container.delete(name);
      return { removed: 1 };
    }
    const removed = await deleteUnder(this.o.container, name);
    if (removed === 0) throw missing(path);
    return { removed };
  }

  #checkPath(path: string, folder: 'file' | 'either'): void {
    const problem = userFilePathProblem(path, folder);
    if (problem) throw new ValidationError('the file path is invalid', [{ path: 'path', message: problem }]);
  }
}

const missing = (path: string) => new NotFoundError(`you have no file ${path}`, 'FILE_NOT_FOUND');

import type { JobStatusChanged } from '../domain/events.js';
import { submittedEvent } from './statusRecorder.js';
import { createHash } from 'node:crypto';
import type { BlobContainer } from '../store/blobStore.js';
import { parse as parseYaml } from 'yaml';
import { AppError, isAppError, problemDocument, ValidationError } from '../errors.js';
import { ownerSchema, type Caller } from '../identity.js';
import type { JobsApi } from './jobsApi.js';

/** What became of a manifest. */
export type IntakeResult =
  | { outcome: 'submitted'; jobId: string; created: boolean; event: JobStatusChanged }
  | { outcome: 'rejected'; code: string; rejectedAs: string }
  | { outcome: 'ignored'; reason: string };

export interface InboxIntakeOptions {
  jobs: JobsApi;
  inbox: BlobContainer;
  rejected: BlobContainer;
  maxBytes: number;
}

const MANIFEST = /\.(json|ya?ml)$/i;

/**
 * The blob inbox: a manifest at `<owner>/<file>` in the inbox container is submitted as a job of
 * `<owner>`, exactly as `POST /jobs` would submit it. The blob's name and ETag are its
 * Idempotency-Key, so the same upload delivered twice makes one job, while uploading again (a new
 * ETag) submits again. A manifest that is not a valid job is moved to the rejected container with
 * `<file>.error.json` beside it, holding the problem document the API would have answered.
 */
export class InboxIntake {
  constructor(private readonly o: InboxIntakeOptions) {}

  async accept(name: string, etag: string | undefined): Promise<IntakeResult> {
    const slash = name.indexOf('/');
    const owner = slash > 0 ? name.slice(0, slash) : '';
    const file = name.slice(slash + 1);
    if (!ownerSchema.safeParse(owner).success || !file) {
      return { outcome: 'ignored', reason: `${name} is not <owner>/<file>` };
    }
    const properties = await this.o.inbox.properties(name);
    // Gone already: a duplicate event for a manifest that was handled and moved.
    const gone: IntakeResult = { outcome: 'ignored', reason: `${name} no longer exists` };
    if (!properties) return gone;
    const version = properties.etag ?? etag ?? '';
    if (properties.size > this.o.maxBytes) {
      return this.#reject(
        owner,
        file,
        new AppError(
          'BODY_TOO_LARGE',
          `the manifest is ${properties.size} bytes; the limit is ${this.o.maxBytes}`,
          413,
          'none',
        ),
      );
    }
    const raw = await this.o.inbox.read(name);
    if (!raw) return gone;
    const caller: Caller = { owner, admin: false, via: 'inbox' };
    try {
      const body = parseManifest(file, raw);
      const key = `inbox:${createHash('sha256').update(`${name}\n${version}`).digest('hex')}`;
      const { job, created } = await this.o.jobs.submit(caller, body, raw, key);
      return { outcome: 'submitted', jobId: job.id, created, event: submittedEvent(job) };
    } catch (error) {
      if (isAppError(error) && error.status < 500 && error.code !== 'IDEMPOTENCY_KEY_IN_PROGRESS') {
        return this.#reject(owner, file, error);
      }
      throw error;
    }
  }

  async #reject(owner: string, file: string, error: AppError): Promise<IntakeResult> {
    const target = `${owner}/${file}`;
    await this.o.rejected.createIfNotExists();
    // A server-side copy: the bytes are kept exactly as uploaded.
    await this.o.inbox.copyTo(target, this.o.rejected, target);
    const problem = JSON.stringify(problemDocument(error, `/job-inbox/${target}`), null, 2);
    await this.o.rejected.write(`${target}.error.json`, problem, 'application/problem+json');
    // Only now, with the copy and its reason stored, does the manifest leave the inbox.
    await this.o.inbox.delete(target);
    return { outcome: 'rejected', code: error.code, rejectedAs: target };
  }
}

/** Parses a manifest by its file type; a parse error names where it broke, as the API does. */
export function parseManifest(file: string, raw: Buffer): unknown {
  const type = MANIFEST.exec(file)?.[1]?.toLowerCase();
  if (!type) {
    throw new ValidationError('the manifest is not a .json, .yaml or .yml file', [
      { path: '(file)', message: `${file} must end in .json, .yaml or .yml` },
    ]);
  }
  const text = raw.toString('utf8');
  try {
    return type === 'json'
      ? (JSON.parse(text) as unknown)
      : (parseYaml(text, { prettyErrors: true }) as unknown);
  } catch (error) {
    throw new ValidationError(
      `the manifest is not valid ${type === 'json' ? 'JSON' : 'YAML'}`,
      [{ path: '(body)', message: (error as Error).message }],
      type === 'json' ? 'INVALID_JSON' : 'INVALID_YAML',
    );
  }
}

import { forEachLimited } from '../concurrency.js';
import type { ExpandedInput, ExpandedJob } from '../domain/expandedJob.js';
import { dataContainer, userFilesLayout } from '../domain/jobLayout.js';
import type { BlobContainers } from '../store/blobStore.js';
import type { JobStore } from '../store/jobStore.js';
import { MAX_FOLDER_FILES, type InputFolders } from './inputFolders.js';

/** Whether an `https://` input can be fetched; why not, or undefined when it can. */
export interface InputProbe {
  problem(url: string): Promise<string | undefined>;
}

/** The app's own containers: tasks may read from them only what belongs to the job's owner. */
export interface AppContainers {
  jobs: string;
  others: readonly string[];
}

export interface InputChecksOptions {
  store: Pick<JobStore, 'getJob'>;
  containers: BlobContainers;
  appContainers: AppContainers;
  /** Users' own files, `<owner>/<path>`, which `files://` inputs name. */
  uploadsContainer: string;
  /** Containers blob inputs may come from (besides the owner's job files); empty for any. */
  inputContainers?: readonly string[];
  /** Checks `https://` inputs; they are not checked without one. */
  httpsInputs?: InputProbe;
  folders: InputFolders;
}

// Every job's own container is named this and its id (see dataContainer).
const DATA_PREFIX = dataContainer('');

/**
 * Whether a job's inputs may be read, before anything runs: each blob and files input exists (a
 * folder holds files, and not too many), none is another owner's or the app's own, and each
 * https one answers (when a probe is given). Answers every problem, one line each.
 */
export class InputChecks {
  constructor(private readonly o: InputChecksOptions) {}

  async problems(jobId: string, owner: string, job: ExpandedJob): Promise<string[]> {
    const blobs = new Map<string, { container: string; path: string }>();
    const files = new Set<string>();
    const urls = new Set<string>();
    const add = (input: ExpandedInput) => {
      if (input.kind === 'blob') blobs.set(`${input.container}/${input.path}`, input);
      if (input.kind === 'files') files.add(input.path);
      if (input.kind === 'https') urls.add(input.url);
    };
    job.inputs.forEach(add);
    for (const task of job.tasks) task.inputs.forEach(add);
    const problems: string[] = [];
    const probe = this.o.httpsInputs;
    if (probe) {
      await forEachLimited([...urls], 8, async (url) => {
        const problem = await probe.problem(url);
        if (problem) problems.push(`${redactedUrl(url)}: ${problem}`);
      });
    }
    // files:// names the owner's own folder: there is no spelling of another user's file.
    await forEachLimited([...files], 16, async (path) => {
      const missing = await this.#missing(this.o.uploadsContainer, userFilesLayout.blob(owner, path));
      if (missing === 'missing') {
        problems.push(`files://${path}: you have no such ${path.endsWith('/') ? 'folder' : 'file'}`);
      } else if (missing) problems.push(`files://${path}: ${missing}`);
    });
    const owners = new Map<string, string | undefined>();
    await forEachLimited([...blobs.values()], 16, async ({ container, path }) => {
      const where = `blob://${container}/${path}`;
      const { jobs, others } = this.o.appContainers;
      if (others.includes(container) || isPlatformContainer(container)) {
        problems.push(`${where}: the app's own container ${container} is not an input source`);
        return;
      }
      const own = container.startsWith(DATA_PREFIX);
      const allowed = this.o.inputContainers;
      if (container !== jobs && !own && allowed && allowed.length > 0 && !allowed.includes(container)) {
        problems.push(`${where}: inputs may come only from ${allowed.join(', ')} (or your jobs' files)`);
        return;
      }
      // Another job's files are inputs only for the same owner (a job chaining on an earlier one):
      // in the jobs container under its id, or in its own container.
      if (container === jobs || own) {
        const source = own ? container.slice(DATA_PREFIX.length) : path.slice(0, path.indexOf('/'));
        if (!owners.has(source)) {
          owners.set(source, source === jobId ? owner : (await this.o.store.getJob(source))?.owner);
        }
        if (owners.get(source) !== owner) {
          problems.push(`${where}: no job ${source || '(none)'} of yours holds it`);
          return;
        }
      }
      const missing = await this.#missing(container, path);
      if (missing) problems.push(`${where}: ${missing === 'missing' ? 'does not exist' : missing}`);
    });
    return problems.sort();
  }

  /**
   * Why a blob input cannot be read: missing, or for a folder (a path ending in `/`, or none),
   * empty or holding more files than one folder input may. Undefined when it can.
   */
  async #missing(container: string, path: string): Promise<string | undefined> {
    if (path !== '' && !path.endsWith('/')) {
      return (await this.o.containers(container).exists(path)) ? undefined : 'missing';
    }
    const files = await this.o.folders.count(container, path);
    if (files === 0) return 'missing';
    return files > MAX_FOLDER_FILES
      ? `holds more than ${MAX_FOLDER_FILES} files, the most one folder input may (each is handed to Batch on its own): pack it into an archive, or split it`
      : undefined;
  }
}

/**
 * Containers the Functions host, Durable Functions and the platform keep in the app's storage
 * account (keys, task hub payloads and leases, dead letters, logs): never a job's input, whatever
 * the allowed list says.
 */
export function isPlatformContainer(name: string): boolean {
  return (
    name.startsWith('$') ||
    name.startsWith('azure-webjobs') ||
    /-(largemessages|leases|applease)$/.test(name) ||
    name === 'eventgrid-deadletter' ||
    name.endsWith('sb-large-messages')
  );
}

/** A URL as a job's message may show it: a query string may carry a credential (a SAS). */
function redactedUrl(url: string): string {
  const parsed = new URL(url);
  return parsed.search ? `${parsed.origin}${parsed.pathname}?…` : url;
}

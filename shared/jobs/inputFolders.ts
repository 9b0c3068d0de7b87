import { forEachLimited } from '../concurrency.js';
import type { ExpandedInput, ExpandedJob } from '../domain/expand.js';
import { userFilesLayout } from '../domain/jobLayout.js';
import type { BlobContainers } from '../store/blobStore.js';

/** The most files one folder input may hold: each becomes a resource file of every task that takes it. */
export const MAX_FOLDER_FILES = 1000;

/** An input that names a folder: a blob path ending in `/` (or a whole container), or a files:// folder. */
export function isFolderInput(
  input: ExpandedInput,
): input is Extract<ExpandedInput, { kind: 'blob' | 'files' }> {
  return (input.kind === 'blob' || input.kind === 'files') && (input.path === '' || input.path.endsWith('/'));
}

/**
 * Folder inputs, resolved to the files in them. Batch reads a folder through a container URL, and
 * a container SAS cannot be limited to a prefix: a task handed one could list and read the whole
 * container (every user's files). So each file gets its own read-only URL instead, which is why a
 * folder may hold at most {@link MAX_FOLDER_FILES}.
 */
export class InputFolders {
  constructor(
    private readonly containers: BlobContainers,
    private readonly uploadsContainer: string,
  ) {}

  /** How many files the folder holds, counting no further than `MAX_FOLDER_FILES + 1`. */
  async count(container: string, prefix: string): Promise<number> {
    let n = 0;
    for await (const _blob of this.containers(container).list(prefix)) if (++n > MAX_FOLDER_FILES) break;
    return n;
  }

  /** The job with every folder input replaced by one input per file, at `<target>/<path in the folder>`. */
  async resolve(job: ExpandedJob, owner: string): Promise<ExpandedJob> {
    const listings = new Map<string, string[]>();
    const where = (input: Extract<ExpandedInput, { kind: 'blob' | 'files' }>) =>
      input.kind === 'files'
        ? { container: this.uploadsContainer, prefix: userFilesLayout.blob(owner, input.path) }
        : { container: input.container, prefix: input.path };
    const folders = [...job.inputs, ...job.tasks.flatMap((task) => task.inputs)].filter(isFolderInput);
    if (folders.length === 0) return job;
    await forEachLimited(folders, 8, async (input) => {
      const { container, prefix } = where(input);
      const key = `${container}/${prefix}`;
      if (listings.has(key)) return;
      listings.set(key, []);
      const names: string[] = [];
      for await (const blob of this.containers(container).list(prefix)) names.push(blob.name);
      listings.set(key, names);
    });
    const files = (input: ExpandedInput): ExpandedInput[] => {
      if (!isFolderInput(input)) return [input];
      const { container, prefix } = where(input);
      return (listings.get(`${container}/${prefix}`) ?? []).map((name) => ({
        kind: 'blob',
        container,
        path: name,
        target: `${input.target}/${name.slice(prefix.length)}`,
      }));
    };
    return {
      ...job,
      inputs: job.inputs.flatMap(files),
      tasks: job.tasks.map((task) =>
        task.inputs.some(isFolderInput) ? { ...task, inputs: task.inputs.flatMap(files) } : task,
      ),
    };
  }
}

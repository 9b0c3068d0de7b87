import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { glob } from 'tinyglobby';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uploadOutputFiles } from '../../../infra/local/batch/executor.js';
import type { TaskAddParameter } from '../../../infra/local/batch/model.js';
import { waitFor } from '../../support/waitFor.js';

type Output = NonNullable<TaskAddParameter['outputFiles']>[number];

const output = (
  filePattern: string,
  pathPrefix: string,
  uploadCondition: Output['uploadOptions']['uploadCondition'] = 'taskcompletion',
): Output => ({
  filePattern,
  destination: { container: { containerUrl: 'http://storage/account/out', path: pathPrefix } },
  uploadOptions: { uploadCondition },
});

/** Stands in for blob storage: uploads wait until the test lets them go. */
class HeldUploads {
  readonly finished: string[] = [];
  readonly failing = new Set<string>();
  inFlight = 0;
  mostInFlight = 0;
  #held = true;
  readonly #waiting: Array<() => void> = [];

  async uploadFile(_container: string, blobName: string): Promise<void> {
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    if (this.#held) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.inFlight--;
    if (this.failing.has(blobName)) throw new Error(`upload of ${blobName} failed`);
    this.finished.push(blobName);
  }

  /** Lets the waiting uploads finish, and those that start from now on. */
  release(): void {
    this.#held = false;
    for (const resolve of this.#waiting.splice(0)) resolve();
  }
}

describe('a local Batch node uploading a task’s output files', () => {
  let taskDir: string;
  let workingDir: string;

  beforeEach(async () => {
    taskDir = await mkdtemp(path.join(tmpdir(), 'uploads-'));
    workingDir = path.join(taskDir, 'wd');
    await mkdir(path.join(workingDir, 'results', 'deep'), { recursive: true });
    await writeFile(path.join(taskDir, 'stdout.txt'), 'out');
    await writeFile(path.join(taskDir, 'stderr.txt'), 'err');
    for (let i = 0; i < 12; i++) await writeFile(path.join(workingDir, 'results', `r${i}.txt`), String(i));
    await writeFile(path.join(workingDir, 'results', 'deep', 'x.bin'), 'x');
    await writeFile(path.join(workingDir, 'summary.txt'), 'sum');
  });
  afterEach(async () => {
    await rm(taskDir, { recursive: true, force: true });
  });

  it('should upload every matched file, side by side but at most eight at a time', async () => {
    const storage = new HeldUploads();
    const task = {
      id: 't',
      commandLine: 'true',
      outputFiles: [
        output('../std*.txt', 'logs'),
        output('results/**', 'results'),
        output('summary.txt', 'final/summary.txt'),
        output('missing.txt', 'final/missing.txt'),
        output('summary.txt', 'failed-only.txt', 'taskfailure'),
      ],
    } as TaskAddParameter;
    const upload = uploadOutputFiles(storage, task, workingDir, true);
    // Nothing finishes while held: the uploads that start meanwhile all run at once.
    await waitFor(() => (storage.inFlight === 8 ? true : undefined), { what: 'eight uploads in flight' });
    storage.release();
    await upload;
    expect(storage.mostInFlight).toBe(8);
    expect(storage.finished.sort()).toEqual(
      [
        'logs/stderr.txt',
        'logs/stdout.txt',
        ...Array.from({ length: 12 }, (_, i) => `results/r${i}.txt`),
        'results/deep/x.bin',
        'final/summary.txt',
      ].sort(),
    );
  });

  it('should try every upload when one fails, and report the failure', async () => {
    const storage = new HeldUploads();
    storage.failing.add('logs/stderr.txt');
    const task = {
      id: 't',
      commandLine: 'true',
      outputFiles: [output('../std*.txt', 'logs'), output('results/**', 'results')],
    } as TaskAddParameter;
    storage.release();
    await expect(uploadOutputFiles(storage, task, workingDir, true)).rejects.toThrow(
      'upload of logs/stderr.txt failed',
    );
    expect(storage.finished).toHaveLength(14);
  });

  it.each([
    '../std*.txt',
    '*.txt',
    'results/r1?.txt',
    'results/r[12].txt',
    'results/{r3,r4}.txt',
    '.hid*',
    'results/*',
    'link*',
    'missing/*.txt',
    'results/*/x.bin',
    'results/**',
  ])('should match %s as the glob library does', async (pattern) => {
    await writeFile(path.join(workingDir, '.hidden.txt'), 'h');
    await symlink(path.join(workingDir, 'summary.txt'), path.join(workingDir, 'link-to-file'));
    await symlink(path.join(workingDir, 'results'), path.join(workingDir, 'link-to-dir'));
    const storage = new HeldUploads();
    storage.release();
    const task = { id: 't', commandLine: 'true', outputFiles: [output(pattern, 'p')] } as TaskAddParameter;
    await uploadOutputFiles(storage, task, workingDir, true);
    const base = path.resolve(
      workingDir,
      pattern
        .split('/')
        .slice(0, -1)
        .filter((part) => !/[*?[\]{}]/.test(part))
        .join('/'),
    );
    const expected = (
      await glob(pattern, { cwd: workingDir, absolute: true, onlyFiles: true, dot: true })
    ).map((file) => `p/${path.relative(base, file).split(path.sep).join('/')}`);
    expect(storage.finished.sort()).toEqual(expected.sort());
  });
});

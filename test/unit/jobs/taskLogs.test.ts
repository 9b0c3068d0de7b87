import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { followTaskLog } from '../../../shared/jobs/taskLogs.js';
import type { ComputeTaskState } from '../../../shared/compute/compute.js';
import { MemoryBlobContainer } from '../../support/memoryBlobs.js';

/**
 * A task on a fake node: its log file grows by the script's steps, one per read of the task, and
 * the task ends (its whole log uploaded) after the last.
 */
function node(steps: string[], options: { upload?: boolean; retryAt?: number } = {}) {
  let file = '';
  let step = 0;
  let retries = 0;
  const container = new MemoryBlobContainer('logs');
  const reads: number[] = [];
  const compute = {
    getTask: async (): Promise<ComputeTaskState> => {
      if (step < steps.length) {
        if (options.retryAt === step) {
          retries++;
          file = '';
        }
        file += steps[step++];
        return { id: 't', state: 'running', retryCount: retries, requeueCount: 0 };
      }
      // Written after the last read, before the task ended: only the upload has it.
      if (step === steps.length) {
        file += 'tail\n';
        step++;
        if (options.upload !== false) await container.write('t/stdout.txt', file, 'text/plain');
      }
      return { id: 't', state: 'completed', retryCount: retries, requeueCount: 0 };
    },
    readTaskFile: (_job: string, _task: string, _name: string, from: number) => {
      reads.push(from);
      return Promise.resolve(Readable.from(from < file.length ? [Buffer.from(file.slice(from))] : []));
    },
  };
  const follow = async (from = 0) => {
    let out = '';
    for await (const chunk of followTaskLog(
      {
        compute,
        uploaded: { container, name: 't/stdout.txt' },
        jobId: 'j',
        taskId: 't',
        file: 'stdout.txt',
        from,
      },
      { pollMs: 1, uploadWaitMs: 20 },
    )) {
      out += Buffer.from(chunk).toString();
    }
    return out;
  };
  return { follow, reads, whole: () => file };
}

describe('following a task’s log', () => {
  it('should send every byte once across the switch from the node to the upload', async () => {
    const fake = node(['a\n', 'b\nc', '\n', '', 'd\n']);
    expect(await fake.follow()).toBe('a\nb\nc\nd\ntail\n');
    expect(await fake.follow()).toBe(fake.whole());
    // Each read of the node starts where the last ended.
    expect(fake.reads.slice(0, 5)).toEqual([0, 2, 5, 6, 6]);
  });

  it('should start at the byte the reader already has', async () => {
    const fake = node(['hello\n', 'world\n']);
    expect(await fake.follow(3)).toBe('lo\nworld\ntail\n');
  });

  it('should finish from the node when no upload comes', async () => {
    const fake = node(['x\n'], { upload: false });
    expect(await fake.follow()).toBe('x\ntail\n');
  });

  it('should go on with a retried attempt’s log from its start', async () => {
    const fake = node(['first try\n', 'second\n', 'more\n'], { retryAt: 1 });
    expect(await fake.follow()).toBe('first try\nsecond\nmore\ntail\n');
  });
});

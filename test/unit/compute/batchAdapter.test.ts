import { describe, expect, it } from 'vitest';
import { mapBatchError } from '../../../shared/adapters/azureBatchErrors.js';
import { chunkTasks, toBatchTask } from '../../../shared/adapters/azureBatchModels.js';
import {
  compressDependencies,
  isoDuration,
  MAX_DEPENDENCY_ID_CHARS,
} from '../../../shared/compute/dependencies.js';
import { ValidationError } from '../../../shared/errors.js';

describe('dependencies as Batch takes them', () => {
  it.each([
    [['1', '2', '3', '4'], { taskIdRanges: [{ start: 1, end: 4 }] }],
    [['5', '1', '2', '3', '9', '10'], { taskIds: ['5', '9', '10'], taskIdRanges: [{ start: 1, end: 3 }] }],
    [['prep', '007', '7', '8', '9'], { taskIds: ['prep', '007'], taskIdRanges: [{ start: 7, end: 9 }] }],
    [['a', 'a', 'b'], { taskIds: ['a', 'b'] }],
  ])('should compress %j', (ids, expected) => {
    expect(compressDependencies('t', ids)).toEqual(expected);
  });

  it('should express 10,000 numbered dependencies as one range', () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => String(i + 1));
    expect(compressDependencies('reduce', ids)).toEqual({ taskIdRanges: [{ start: 1, end: 10_000 }] });
  });

  it('should refuse an id list Batch would refuse, naming the task', () => {
    const ids = Array.from({ length: 7000 }, (_, i) => `task-${i}-x`);
    expect(ids.join('').length).toBeGreaterThan(MAX_DEPENDENCY_ID_CHARS);
    expect(() => compressDependencies('reduce', ids)).toThrow(ValidationError);
    expect(() => compressDependencies('reduce', ids)).toThrow(/task reduce depends on too many tasks/);
  });

  it.each([
    [0, 'PT0S'],
    [1500, 'PT1.5S'],
    [30 * 60_000, 'PT30M'],
    [26 * 3600_000, 'P1DT2H'],
    [86_400_000, 'P1D'],
  ])('should write %i ms as %s', (ms, text) => {
    expect(isoDuration(ms)).toBe(text);
  });
});

describe('Batch tasks for compute tasks', () => {
  it('should map every field the orchestration uses', () => {
    const task = toBatchTask({
      id: '7',
      commandLine: '/bin/sh -c "run"',
      environment: { A: '1' },
      image: 'python:3.12-slim',
      resourceFiles: [
        { source: { containerUrl: 'https://s/in?sig=x', prefix: 'job/' }, target: 'inputs' },
        { source: { url: 'https://example.org/data.csv' } },
      ],
      logs: { containerUrl: 'https://s/logs?sig=y', path: 'job-1/logs/7' },
      outputs: [
        {
          pattern: 'results/**',
          destination: { containerUrl: 'https://s/out', identity: '/mi/id', path: 'job-1/out' },
          when: 'success',
        },
      ],
      dependsOn: ['1', '2', '3'],
      runDependentsOnFailure: true,
      maxRetries: 2,
      maxWallClockMs: 90_000,
    });
    expect(task).toEqual({
      id: '7',
      commandLine: '/bin/sh -c "run"',
      environmentSettings: [{ name: 'A', value: '1' }],
      containerSettings: { imageName: 'python:3.12-slim', workingDirectory: 'taskWorkingDirectory' },
      resourceFiles: [
        { storageContainerUrl: 'https://s/in?sig=x', blobPrefix: 'job/', filePath: 'inputs' },
        { httpUrl: 'https://example.org/data.csv', filePath: 'data.csv' },
      ],
      outputFiles: [
        {
          filePattern: '../std*.txt',
          destination: { container: { containerUrl: 'https://s/logs?sig=y', path: 'job-1/logs/7' } },
          uploadOptions: { uploadCondition: 'taskcompletion' },
        },
        {
          filePattern: 'results/**',
          destination: {
            container: {
              containerUrl: 'https://s/out',
              identityReference: { resourceId: '/mi/id' },
              path: 'job-1/out',
            },
          },
          uploadOptions: { uploadCondition: 'tasksuccess' },
        },
      ],
      dependsOn: { taskIdRanges: [{ start: 1, end: 3 }] },
      exitConditions: {
        default: { dependencyAction: 'satisfy' },
        preProcessingError: { dependencyAction: 'satisfy' },
        fileUploadError: { dependencyAction: 'satisfy' },
      },
      constraints: { maxTaskRetryCount: 2, maxWallClockTime: 'PT1M30S' },
    });
  });

  it('should chunk at 100 tasks and under 1 MB per call', () => {
    const small = Array.from({ length: 250 }, (_, i) => ({ id: String(i), commandLine: 'true' }));
    expect(chunkTasks(small).map((c) => c.length)).toEqual([100, 100, 50]);
    const big = Array.from({ length: 30 }, (_, i) => ({ id: String(i), commandLine: 'x'.repeat(100_000) }));
    const chunks = chunkTasks(big);
    for (const chunk of chunks) expect(Buffer.byteLength(JSON.stringify(chunk))).toBeLessThan(1024 * 1024);
    expect(chunks.flat()).toHaveLength(30);
  });
});

describe('Batch errors as typed errors', () => {
  const rest = (statusCode: number | undefined, code?: string, headers: Record<string, string> = {}) => ({
    statusCode,
    code,
    body: code ? { code, message: { value: `${code} happened\nRequestId:abc` } } : undefined,
    response: { headers: { get: (name: string) => headers[name] } },
  });

  it.each([
    [rest(404, 'PoolNotFound'), 'BATCH_POOL_NOT_FOUND', 'blocked'],
    [rest(409, 'ActiveJobAndScheduleQuotaReached'), 'BATCH_QUOTA_REACHED', 'blocked'],
    [rest(409, 'PoolNotSteady'), 'BATCH_POOL_RESIZING', 'blocked'],
    [rest(429, 'TooManyRequests', { 'retry-after': '3' }), 'BATCH_THROTTLED', 'blocked'],
    [rest(503, 'ServerBusy'), 'BATCH_THROTTLED', 'blocked'],
    [rest(500, 'InternalError'), 'BATCH_UNAVAILABLE', 'backoff'],
    [rest(undefined, 'ECONNRESET'), 'BATCH_UNAVAILABLE', 'backoff'],
    [rest(404, 'JobNotFound'), 'BATCH_JOB_NOT_FOUND', 'none'],
    // A file read as a stream: the SDK has no body to take a code from.
    [rest(404), 'BATCH_NOT_FOUND', 'none'],
    [rest(404, 'FileNotFound'), 'BATCH_NOT_FOUND', 'none'],
    [rest(409, 'JobExists'), 'BATCH_JOB_EXISTS', 'none'],
    [rest(409, 'JobCompleted'), 'BATCH_JOB_COMPLETED', 'none'],
    [rest(403, 'AuthenticationFailed'), 'BATCH_AUTH_FAILED', 'none'],
    [rest(400, 'InvalidPropertyValue'), 'BATCH_BAD_REQUEST', 'none'],
    [rest(413, 'RequestBodyTooLarge'), 'BATCH_REQUEST_TOO_LARGE', 'none'],
  ])('should map %j', (error, code, retry) => {
    const mapped = mapBatchError(error, 'do something');
    expect({ code: mapped.code, retry: mapped.retry }).toEqual({ code, retry });
    expect(mapped.message).toMatch(/^do something: /);
    expect(mapped.message).not.toContain('RequestId');
  });

  it('should carry Retry-After', () => {
    expect(mapBatchError(rest(429, 'TooManyRequests', { 'retry-after': '3' }), 'x').retryAfterMs).toBe(3000);
  });
});

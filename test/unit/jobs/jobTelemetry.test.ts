import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../../shared/domain/jobSpec.js';
import type { Caller } from '../../../shared/identity.js';
import { JobsApi } from '../../../shared/jobs/jobsApi.js';
import { StatusRecorder } from '../../../shared/jobs/statusRecorder.js';
import { METRICS } from '../../../shared/telemetry.js';
import { MemoryJobStore } from '../../support/memoryStores.js';
import { RecordingTelemetry } from '../../support/telemetry.js';

/** What operators see of a job: a line per change with its id, and the metrics they alert on. */
describe('a job as its operators see it', () => {
  const alice: Caller = { owner: 'alice', admin: false, via: 'token' };

  it('should count a submission once, and log each status change with the job id', async () => {
    const store = new MemoryJobStore();
    const telemetry = new RecordingTelemetry();
    const jobs = new JobsApi({
      store,
      limits: DEFAULT_LIMITS,
      defaultPool: 'default',
      defaultLogsContainer: 'job-logs',
      telemetry,
    });
    const body = { name: 'demo', tasks: [{ id: 'a', command: 'true' }] };
    const { job } = await jobs.submit(alice, body, Buffer.from(JSON.stringify(body)), 'key-1');
    // A retried request (same Idempotency-Key) is the same job: not a second submission.
    await jobs.submit(alice, body, Buffer.from(JSON.stringify(body)), 'key-1');
    expect(telemetry.total(METRICS.jobsSubmitted, { via: 'token' })).toBe(1);

    const statuses = new StatusRecorder(store, () => new Date('2026-12-01T10:00:00Z'), telemetry);
    await statuses.record({ jobId: job.id, to: 'PROCESSING_INPUTS', message: 'checking inputs' });
    // The same change recorded twice (an activity that ran again) is one line.
    await statuses.record({ jobId: job.id, to: 'PROCESSING_INPUTS', message: 'checking inputs' });
    await statuses.record({
      jobId: job.id,
      to: 'FAILED',
      message: 'input missing',
      condition: 'INVALID_INPUT',
    });

    expect(telemetry.lines.map((line) => [line.level, line.message, line.fields.jobId])).toEqual([
      ['information', 'submitted: demo, 1 task(s) on default', job.id],
      ['information', 'PENDING → PROCESSING_INPUTS: checking inputs', job.id],
      ['warning', 'PROCESSING_INPUTS → FAILED: input missing', job.id],
    ]);
    expect(telemetry.lines[2]!.fields).toMatchObject({
      owner: 'alice',
      status: 'FAILED',
      condition: 'INVALID_INPUT',
    });
    expect(telemetry.metrics.filter((m) => m.name === METRICS.jobsEnded)).toEqual([
      { name: METRICS.jobsEnded, value: 1, dimensions: { status: 'FAILED', condition: 'INVALID_INPUT' } },
    ]);
  });
});

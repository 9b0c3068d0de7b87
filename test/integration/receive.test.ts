import { afterEach, describe, expect, it } from 'vitest';
import { signWebhook } from '../../shared/domain/webhooks.js';
import { describeDelivery, startReceiver } from '../../infra/local/receive.js';

const SECRET = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;
const OLD_SECRET = `whsec_${Buffer.alloc(32, 6).toString('base64')}`;

const jobEvent = JSON.stringify({
  specversion: '1.0',
  id: 'job-1:7',
  type: 'cloudjobs.job.status.changed',
  data: {
    jobId: 'job-1',
    name: 'workflow',
    previousStatus: 'QUEUED',
    status: 'RUNNING',
    message: 'a task started',
    sequence: 7,
  },
});
const taskBatch = (count: number) =>
  JSON.stringify(
    Array.from({ length: count }, (_, i) => ({
      id: `job-1:t${i + 3}`,
      type: 'cloudjobs.task.status.changed',
      data: {
        jobId: 'job-1',
        name: 'workflow',
        taskId: `t${i}`,
        status: i === 1 ? 'FAILED' : 'SUCCEEDED',
        ...(i === 1 ? { exitCode: 3 } : {}),
        sequence: i + 3,
      },
    })),
  );

describe('the local webhook receiver', () => {
  it('should tell a job event and a batch of task events in a line each', () => {
    expect(describeDelivery(jobEvent)).toEqual([
      'job workflow (job-1) #7: QUEUED → RUNNING — a task started',
    ]);
    expect(describeDelivery(taskBatch(7))).toEqual([
      'job workflow (job-1) task events #3–#9: t0 SUCCEEDED, t1 FAILED (exit 3), t2 SUCCEEDED, t3 SUCCEEDED, t4 SUCCEEDED, and 2 more',
    ]);
    expect(describeDelivery('{oops')).toEqual(['a body that is not JSON (5 characters)']);
    expect(describeDelivery('{"hello": 1}')).toEqual([
      'an event of a shape this receiver does not know (12 characters)',
    ]);
  });

  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  const start = async (secrets: string[]) => {
    const lines: string[] = [];
    const receiver = await startReceiver({
      host: '127.0.0.1',
      port: 0,
      secrets,
      print: (l) => lines.push(l),
    });
    stops.push(receiver.close);
    const post = async (body: string, signedWith: string[]) => {
      const id = 'job-1:7';
      const timestamp = Math.floor(Date.now() / 1000);
      const response = await fetch(receiver.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/cloudevents+json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signedWith.map((s) => signWebhook(s, { id, timestamp, body })).join(' '),
        },
        body,
      });
      return response.status;
    };
    return { lines, post };
  };

  it('should take a delivery signed with any secret it was given, and refuse one that is not, with 401', async () => {
    const { lines, post } = await start([SECRET, OLD_SECRET]);

    expect(await post(jobEvent, [SECRET])).toBe(204);
    expect(await post(taskBatch(2), [OLD_SECRET])).toBe(204);
    expect(await post(jobEvent, [`whsec_${Buffer.alloc(32, 9).toString('base64')}`])).toBe(401);
    expect(await post(jobEvent, [])).toBe(401);

    expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual([
      '✓ job workflow (job-1) #7: QUEUED → RUNNING — a task started',
      '✓ job workflow (job-1) task events #3–#4: t0 SUCCEEDED, t1 FAILED (exit 3)',
      '✗ job-1:7: the signature does not verify; answered 401',
      '✗ job-1:7: the signature does not verify; answered 401',
    ]);
  });

  it('should take every delivery, marked unchecked, when it has no secret', async () => {
    const { lines, post } = await start([]);

    expect(await post(jobEvent, [])).toBe(204);

    expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual([
      '· job workflow (job-1) #7: QUEUED → RUNNING — a task started',
    ]);
  });
});

import { InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { BlockedError, NotFoundError, ValidationError } from '../../../shared/errors.js';
import { problemResponse } from '../../../shared/http/problems.js';

function context() {
  const logged: unknown[][] = [];
  const ctx = new InvocationContext({
    invocationId: 'inv-123',
    functionName: 'jobsSubmit',
    logHandler: (_level, ...args) => logged.push(args),
  });
  return { ctx, logged };
}

const body = (response: { body?: unknown }) => JSON.parse(String(response.body)) as Record<string, unknown>;

describe('problem documents', () => {
  it('should list each bad field of a validation error', () => {
    const { ctx } = context();
    const response = problemResponse(
      new ValidationError(
        'the job spec is invalid: 1 problem',
        [{ path: 'tasks[0].id', message: 'is required' }],
        'INVALID_JOB_SPEC',
      ),
      ctx,
      '/api/jobs',
    );
    expect(response.status).toBe(400);
    expect(response.headers).toMatchObject({ 'Content-Type': 'application/problem+json' });
    expect(body(response)).toEqual({
      type: 'urn:cloudjobs:problem:invalid-job-spec',
      title: 'Bad Request',
      status: 400,
      detail: 'the job spec is invalid: 1 problem',
      code: 'INVALID_JOB_SPEC',
      instance: '/api/jobs',
      errors: [{ path: 'tasks[0].id', message: 'is required' }],
    });
  });

  it('should carry Retry-After for errors that say when to retry', () => {
    const { ctx } = context();
    const response = problemResponse(
      new BlockedError('BATCH_THROTTLED', 'throttled', { retryAfterMs: 2500 }),
      ctx,
    );
    expect(response.status).toBe(503);
    expect(response.headers).toMatchObject({ 'Retry-After': '3' });
    expect(body(response)).toMatchObject({ code: 'BATCH_THROTTLED', retryAfterSeconds: 3 });
  });

  it('should hide an unknown error behind a generic 500 and log it with the invocation id', () => {
    const { ctx, logged } = context();
    const secret = new Error('connection string AccountKey=abc leaked');
    const response = problemResponse(secret, ctx);
    expect(response.status).toBe(500);
    const document = body(response);
    expect(document).toMatchObject({ code: 'INTERNAL_ERROR', invocationId: 'inv-123' });
    expect(JSON.stringify(document)).not.toContain('AccountKey');
    expect(logged.flat()).toContain(secret);
    expect(String(logged[0]?.[0])).toContain('inv-123');
  });

  it('should answer a missing resource with 404 and its code', () => {
    const { ctx } = context();
    const response = problemResponse(new NotFoundError('job j-1 does not exist', 'JOB_NOT_FOUND'), ctx);
    expect(response.status).toBe(404);
    expect(body(response)).toMatchObject({ code: 'JOB_NOT_FOUND', title: 'Not Found' });
  });
});

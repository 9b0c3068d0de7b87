import { expect } from 'vitest';
import type { z } from 'zod';
import { historyEntrySchema, jobViewSchema, taskViewSchema } from '../../shared/http/openapi.js';
import type { RuntimeProcess } from './runtimeProcess.js';
import { waitFor } from './waitFor.js';

export type JobView = z.infer<typeof jobViewSchema>;
export type TaskView = z.infer<typeof taskViewSchema>;

/**
 * The jobs API as a user drives it over HTTP, with every answer parsed by the schemas the OpenAPI
 * document is generated from (strictly: an answer may carry nothing the document does not say).
 */
export function jobClient(runtime: RuntimeProcess, defaultToken?: string) {
  const call = async (method: string, path: string, body?: unknown, token = defaultToken) => {
    const response = await runtime.fetch(`/api${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };
  const json = async <T>(method: string, path: string, body?: unknown, token = defaultToken) => {
    const answer = await call(method, path, body, token);
    return { ...answer, body: (answer.text ? JSON.parse(answer.text) : undefined) as T };
  };
  const job = async (id: string, token = defaultToken) =>
    jobViewSchema.strict().parse((await json<JobView>('GET', `/jobs/${id}`, undefined, token)).body);
  return {
    call,
    json,
    job,
    submit: async (spec: Record<string, unknown>, token = defaultToken): Promise<string> => {
      const answer = await json<JobView>('POST', '/jobs', spec, token);
      expect(answer.status, answer.text).toBe(202);
      return jobViewSchema.strict().parse(answer.body).id;
    },
    history: async (id: string) => {
      const answer = await json<{ items: unknown[] }>('GET', `/jobs/${id}/history`);
      return answer.body.items.map((item) => historyEntrySchema.strict().parse(item));
    },
    tasks: async (id: string): Promise<Record<string, TaskView>> => {
      const all: TaskView[] = [];
      let continuation: string | undefined;
      do {
        const query = `limit=1000${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`;
        const answer = await json<{ items: unknown[]; continuation?: string }>(
          'GET',
          `/jobs/${id}/tasks?${query}`,
        );
        all.push(...answer.body.items.map((item) => taskViewSchema.strict().parse(item)));
        continuation = answer.body.continuation;
      } while (continuation);
      return Object.fromEntries(all.map((task) => [task.id, task]));
    },
    /** Waits until the job has one of `statuses`, polling as a user would. */
    until: (id: string, statuses: JobView['status'][], timeoutMs = 60_000): Promise<JobView> =>
      waitFor(
        async () => {
          const current = await job(id);
          return statuses.includes(current.status) ? current : undefined;
        },
        { timeoutMs, intervalMs: 200, what: `job ${id} to be ${statuses.join(' or ')}` },
      ),
  };
}

/** The statuses a job never leaves. */
export const ENDED: JobView['status'][] = ['FINISHED', 'FAILED', 'CANCELLED'];

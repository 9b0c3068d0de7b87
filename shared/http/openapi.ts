import { z } from 'zod';
import { jobSpecSchema, resubmitSchema } from '../domain/jobSpec.js';
import { presetSchema } from '../domain/presets.js';
import {
  addTasksSchema,
  jobPatchSchema,
  listJobsQuerySchema,
  listTasksQuerySchema,
  templatePutSchema,
} from '../jobs/jobsApi.js';
import { uploadUrlQuerySchema } from '../jobs/inboxApi.js';
import { fileUploadQuerySchema, listFilesQuerySchema } from '../jobs/userFiles.js';
import { putSecretBodySchema } from '../jobs/secrets.js';
import { outputsZipQuerySchema, taskLogQuerySchema } from '../jobs/jobFiles.js';
import { ownerEventsQuerySchema } from '../jobs/ownerStreams.js';
import { poolCreateSchema, poolResizeSchema } from '../jobs/poolsApi.js';
import { callerViewSchema, rolesSourceRequestSchema } from '../identity.js';
import {
  deliveriesQuerySchema,
  redeliverDeadLettersQuerySchema,
  subscriptionCreateSchema,
  subscriptionUpdateSchema,
} from '../notifications/subscriptionsApi.js';

export * from './views.js';
import {
  deliveryViewSchema,
  historyEntrySchema,
  jobViewSchema,
  outputListingSchema,
  poolViewSchema,
  problemSchema,
  subscriptionViewSchema,
  taskGraphSchema,
  taskViewSchema,
  templateViewSchema,
  uploadUrlSchema,
  fileUploadUrlSchema,
  userFileViewSchema,
  taskAttemptsSchema,
  secretViewSchema,
} from './views.js';

const page = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    continuation: z.string().optional().describe('pass back for the next page'),
  });

const cloudEventSchema = z.object({
  specversion: z.literal('1.0'),
  id: z.string(),
  source: z.string(),
  type: z.enum(['cloudjobs.job.status.changed', 'cloudjobs.task.status.changed', 'cloudjobs.job.progress']),
  subject: z.string(),
  time: z.iso.datetime({ offset: true }),
  datacontenttype: z.literal('application/json'),
  data: z.record(z.string(), z.unknown()),
});

const streamEventSchema = z
  .object({
    id: z
      .string()
      .describe('`<history>.<task log>`: where the reader is; send it back as Last-Event-ID to resume'),
    event: z.enum(['job.status.changed', 'task.status.changed', 'job.progress']),
    data: cloudEventSchema.describe('the CloudEvent a webhook is sent for the same change'),
  })
  .describe(
    'One Server-Sent Event (`id:`, `event:` and `data:` lines). The stream starts with `retry:`, sends `: heartbeat` comments while nothing happens, ends after the job’s final status, and may end sooner (reconnect with Last-Event-ID).',
  );

/** The `Idempotency-Key` header of a request that makes something; `description` says what a repeat does. */
const idempotencyKeyHeader = (description: string) => ({
  name: 'Idempotency-Key',
  description,
  schema: { type: 'string', maxLength: 255 },
});

/** The header an event stream resumes from; `pattern` is the shape of that stream's ids. */
const lastEventIdHeader = (pattern: string) => ({
  name: 'Last-Event-ID',
  description: 'the id of the last event read: the stream resumes after it',
  schema: { type: 'string', pattern },
});

type Operation = {
  summary: string;
  query?: z.ZodObject;
  /** Request headers the operation reads, besides authorization. */
  headers?: Array<{ name: string; description: string; schema: Record<string, unknown> }>;
  body?: z.ZodType;
  responses: Record<number, z.ZodType | null>;
  /** The media type of the success responses; JSON unless given. */
  mediaType?: string;
  pathParams?: string[];
};

const OPERATIONS: Record<string, Record<string, Operation>> = {
  '/jobs': {
    post: {
      summary: 'Submit a job (Idempotency-Key header makes a retry return the same job)',
      headers: [idempotencyKeyHeader('the same key and body again answer with the same job')],
      body: jobSpecSchema,
      responses: { 202: jobViewSchema },
    },
    get: {
      summary: 'Your jobs, newest first',
      query: listJobsQuerySchema,
      responses: { 200: page(jobViewSchema) },
    },
  },
  '/jobs/{id}': {
    get: { summary: 'A job, with its spec and task counts', responses: { 200: jobViewSchema } },
    patch: {
      summary: 'Change a job that has not ended: its priority (on Batch at once once the job is there)',
      body: jobPatchSchema,
      responses: { 200: jobViewSchema },
    },
    delete: {
      summary:
        'Forget an ended job and its records, its own subscriptions and every delivery of its events (409 while it runs)',
      responses: { 204: null },
    },
  },
  '/jobs/{id}/cancel': {
    post: {
      summary: 'Cancel a job: running tasks are stopped and it ends CANCELLED (watch its history)',
      responses: { 202: jobViewSchema },
    },
  },
  '/jobs/{id}/resubmit': {
    post: {
      summary:
        'Submit an ended job again as a new one: all its tasks, or only those that did not succeed (the rest count as done, their outputs read from the original); 409 while it runs',
      headers: [idempotencyKeyHeader('the same key and body again answer with the same new job')],
      body: resubmitSchema,
      responses: { 202: jobViewSchema },
    },
  },
  '/jobs/{id}/pause': {
    post: {
      summary: 'Hold a job: running tasks go back to the queue and none start until it resumes',
      responses: { 202: jobViewSchema },
    },
  },
  '/jobs/{id}/resume': {
    post: { summary: 'Release a paused job (409 unless it is PAUSED)', responses: { 202: jobViewSchema } },
  },
  '/jobs/{id}/complete': {
    post: {
      summary:
        'Say no more tasks are coming (a job submitted with completeWhenTasksFinish false): it ends once its tasks have',
      responses: { 202: jobViewSchema },
    },
  },
  '/jobs/{id}/tasks/{taskId}/logs/{stream}': {
    get: {
      summary:
        'A task’s stdout or stderr (text/plain), of its latest attempt: a running task’s as it is now, or with follow=true as it grows until the task ends; 204 when a follow has nothing left',
      query: taskLogQuerySchema,
      responses: { 200: null, 204: null },
    },
  },
  '/jobs/{id}/tasks/{taskId}/attempts': {
    get: {
      summary:
        'Each attempt of a task (a retried task runs more than once), with the size of its logs; one that runs once has one',
      responses: { 200: taskAttemptsSchema },
    },
  },
  '/jobs/{id}/tasks/{taskId}/attempts/{attempt}/logs/{stream}': {
    get: {
      summary: 'One attempt’s stdout or stderr (text/plain), as the plain logs endpoint serves the last',
      query: taskLogQuerySchema,
      responses: { 200: null, 204: null },
    },
  },
  '/jobs/{id}/tasks/{taskId}/cancel': {
    post: {
      summary:
        'Cancel one task: it is stopped on Batch and ends CANCELLED, its dependents are SKIPPED unless it lets them run, and the job carries on (409 TASK_ENDED once the task has ended, TASK_NOT_SUBMITTED before the job has put it on Batch)',
      responses: { 200: taskViewSchema },
    },
  },
  '/jobs/{id}/graph': {
    get: {
      summary: 'A job’s task graph: each task and the tasks it waits for',
      responses: { 200: taskGraphSchema },
    },
  },
  '/jobs/{id}/outputs': {
    get: {
      summary: 'A job’s output files: the archive once it has ended, else what its tasks uploaded so far',
      responses: { 200: outputListingSchema },
    },
  },
  '/jobs/{id}/outputs.zip': {
    get: {
      summary:
        'A job’s outputs (or one task’s, or those under a prefix) as one zip, streamed as it is made; entries keep their listed paths',
      query: outputsZipQuerySchema,
      mediaType: 'application/zip',
      responses: { 200: null },
    },
  },
  '/jobs/{id}/outputs/{path}': {
    get: { summary: 'One output file (`<taskId>/<path>`, as listed)', responses: { 200: null } },
  },
  '/jobs/{id}/history': {
    get: {
      summary: 'A job’s state changes, oldest first',
      responses: { 200: z.object({ jobId: z.string(), items: z.array(historyEntrySchema) }) },
    },
  },
  '/jobs/{id}/events': {
    get: {
      summary:
        'A job’s events as Server-Sent Events: what happened (after Last-Event-ID), then changes as they happen, until it ends',
      query: z.object({
        lastEventId: z
          .string()
          .optional()
          .describe('where to resume, for clients that cannot send the Last-Event-ID header'),
      }),
      headers: [lastEventIdHeader('^\\d+\\.\\d+$')],
      mediaType: 'text/event-stream',
      responses: { 200: streamEventSchema },
    },
  },
  '/events': {
    get: {
      summary:
        'Every job of yours as Server-Sent Events: each status change as it is recorded (from Last-Event-ID when given, else from now) and, without ?status=, each unfinished job’s task counts when they move (job.progress)',
      query: ownerEventsQuerySchema,
      headers: [lastEventIdHeader('^\\d+$')],
      mediaType: 'text/event-stream',
      responses: { 200: streamEventSchema },
    },
  },
  '/jobs/{id}/tasks': {
    get: {
      summary: 'A job’s tasks, in order',
      query: listTasksQuerySchema,
      responses: { 200: page(taskViewSchema) },
    },
    post: {
      summary:
        'Add tasks to an open job (submitted with completeWhenTasksFinish false) once it is QUEUED: ids unique across the job, dependencies on its tasks allowed; 409 once it is completed or has ended',
      headers: [idempotencyKeyHeader('the same key again adds nothing more and answers the same')],
      body: addTasksSchema,
      responses: { 202: z.object({ added: z.number().int(), job: jobViewSchema }) },
    },
  },
  '/templates': {
    get: {
      summary: 'Templates you may use',
      responses: {
        200: z.object({
          items: z.array(z.object({ name: z.string(), owner: z.string(), versions: z.array(z.string()) })),
        }),
      },
    },
  },
  '/templates/{name}': {
    get: {
      summary: 'A template’s versions you may use',
      responses: { 200: z.object({ name: z.string(), versions: z.array(templateViewSchema) }) },
    },
  },
  '/templates/{name}/versions/{version}': {
    put: {
      summary: 'Register a template version (immutable)',
      body: templatePutSchema,
      responses: { 201: templateViewSchema, 200: templateViewSchema },
    },
  },
  '/subscriptions': {
    post: {
      summary: 'Subscribe a webhook or email address; the answer carries the signing secret once',
      body: subscriptionCreateSchema,
      responses: { 201: subscriptionViewSchema },
    },
    get: {
      summary: 'Your subscriptions',
      responses: { 200: z.object({ items: z.array(subscriptionViewSchema) }) },
    },
  },
  '/subscriptions/signing-secret': {
    post: {
      summary:
        'A new secret for the webhooks your job specs declare (shown once; the old one also signs for a day)',
      responses: { 201: z.object({ secret: z.string(), signs: z.string() }) },
    },
  },
  '/subscriptions/{id}/secret': {
    post: {
      summary:
        "A new signing secret for a webhook subscription (shown once; the old one also signs for a day). 409 for email, or a spec's webhook (signed with the account's secret)",
      responses: {
        201: z.object({
          secret: z.string(),
          previousSignsUntil: z.iso.datetime().describe('until when the replaced secret signs too'),
        }),
      },
    },
  },
  '/subscriptions/{id}/deliveries': {
    get: {
      summary: 'Deliveries of a subscription with every attempt, by job then in sequence order',
      query: deliveriesQuerySchema,
      responses: { 200: page(deliveryViewSchema) },
    },
  },
  '/subscriptions/{id}/deliveries/retry': {
    post: {
      summary:
        'Try the dead-lettered deliveries again now, in order (by job, then sequence), at most `limit`; stops at the first that fails again',
      query: redeliverDeadLettersQuerySchema,
      responses: {
        200: z.object({
          delivered: z.array(deliveryViewSchema),
          failed: deliveryViewSchema.optional().describe('the one that failed again, where it stopped'),
          more: z.boolean().describe('whether dead letters are left: call again'),
        }),
      },
    },
  },
  '/subscriptions/{id}/deliveries/{deliveryId}/retry': {
    post: {
      summary: 'Try a dead-lettered (or waiting) delivery once more, now',
      responses: { 200: deliveryViewSchema },
    },
  },
  '/subscriptions/{id}': {
    get: { summary: 'A subscription', responses: { 200: subscriptionViewSchema } },
    patch: {
      summary: 'Turn a subscription on or off (on again after a 410, it catches up)',
      body: subscriptionUpdateSchema,
      responses: { 200: subscriptionViewSchema },
    },
    delete: { summary: 'Remove a subscription', responses: { 204: null } },
  },
  '/pools': {
    get: { summary: 'Compute pools', responses: { 200: z.object({ items: z.array(poolViewSchema) }) } },
    post: { summary: 'Create a pool (admins)', body: poolCreateSchema, responses: { 201: poolViewSchema } },
  },
  '/presets': {
    get: {
      summary: 'Resource presets a job or task may name instead of a pool: what a task gets, and where',
      responses: { 200: z.object({ items: z.array(presetSchema) }) },
    },
  },
  '/pools/{id}': {
    patch: { summary: 'Resize a pool (admins)', body: poolResizeSchema, responses: { 202: null } },
    delete: { summary: 'Delete a pool (admins)', responses: { 202: null } },
  },
  '/inbox/upload-url': {
    get: {
      summary: 'A write-only URL to put a job manifest in your inbox folder',
      query: uploadUrlQuerySchema,
      responses: { 200: uploadUrlSchema },
    },
  },
  '/files/upload-url': {
    get: {
      summary:
        'A URL that writes one of your files (`uploads/<owner>/<path>`, nobody else’s): PUT it whole, or in blocks (Put Block, Put Block List) for large files; it may read that one blob’s block list to resume',
      query: fileUploadQuerySchema,
      responses: { 200: fileUploadUrlSchema },
    },
  },
  '/files': {
    get: {
      summary:
        'Your files, in path order; a job takes one as an input `files://<path>` (a folder ending in /)',
      query: listFilesQuerySchema,
      responses: { 200: page(userFileViewSchema) },
    },
  },
  '/files/{path}': {
    get: {
      summary: 'One of your files; a `Range: bytes=N-` or `bytes=N-M` header answers 206 with that part',
      headers: [{ name: 'Range', description: 'one byte range', schema: { type: 'string' } }],
      mediaType: 'application/octet-stream',
      responses: { 200: null, 206: null },
    },
    delete: {
      summary: 'Remove one of your files, or with a path ending in / every file under that folder',
      responses: { 200: z.object({ removed: z.number().int() }) },
    },
  },
  '/secrets': {
    get: {
      summary:
        'Your secrets, by name (never their values); a job’s env names one as `{"secretRef": "<name>"}`',
      responses: { 200: z.object({ items: z.array(secretViewSchema) }) },
    },
  },
  '/secrets/{name}': {
    put: {
      summary:
        'Set one of your secrets (created or replaced); its value is never shown again, and is read only when a job’s tasks that name it go to Batch',
      body: putSecretBodySchema,
      responses: { 200: secretViewSchema },
    },
    delete: {
      summary: 'Remove one of your secrets; jobs naming it that have not yet sent their tasks to Batch fail',
      responses: { 204: null },
    },
  },
  '/me': {
    get: {
      summary: 'Who you are to the service, and whether you are an admin',
      responses: { 200: callerViewSchema },
    },
  },
  '/dashboard/roles': {
    post: {
      summary:
        'For the dashboard’s Static Web App (its rolesSource): the roles of someone with these claims, the admin role if they hold it',
      body: rolesSourceRequestSchema,
      responses: { 200: z.object({ roles: z.array(z.string()) }) },
    },
  },
  '/health': {
    get: { summary: 'Whether the app reaches its storage and Batch', responses: { 200: null, 503: null } },
  },
  '/openapi.json': { get: { summary: 'This document', responses: { 200: null } } },
};

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  return rest;
};

/** The OpenAPI 3.1 document of the API, generated from the schemas that validate it. */
export function openApiDocument(serverUrl = '/api'): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, operations] of Object.entries(OPERATIONS)) {
    paths[path] = {};
    for (const [method, operation] of Object.entries(operations)) {
      const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
      const queryShape = operation.query
        ? (jsonSchema(operation.query, 'input') as {
            properties?: Record<string, unknown>;
            required?: string[];
          })
        : undefined;
      paths[path][method] = {
        summary: operation.summary,
        parameters: [
          ...pathParams.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
          ...Object.entries(queryShape?.properties ?? {}).map(([name, schema]) => ({
            name,
            in: 'query',
            required: queryShape?.required?.includes(name) ?? false,
            schema,
          })),
          ...(operation.headers ?? []).map(({ name, description, schema }) => ({
            name,
            in: 'header',
            required: false,
            description,
            schema,
          })),
        ],
        ...(operation.body
          ? {
              requestBody: {
                required: true,
                content: { 'application/json': { schema: jsonSchema(operation.body, 'input') } },
              },
            }
          : {}),
        responses: {
          ...Object.fromEntries(
            Object.entries(operation.responses).map(([status, schema]) => [
              status,
              {
                description: status.startsWith('2') ? 'success' : 'unavailable',
                ...(schema
                  ? {
                      content: {
                        [operation.mediaType ?? 'application/json']: { schema: jsonSchema(schema, 'output') },
                      },
                    }
                  : {}),
              },
            ]),
          ),
          default: {
            description: 'an error, as an RFC 9457 problem document',
            content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        },
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'cloudjobs',
      version: '0.1.0',
      description: 'Run batch compute jobs on Azure Batch: submit, follow, and be told.',
    },
    servers: [{ url: serverUrl }],
    components: {
      schemas: { Problem: jsonSchema(problemSchema, 'output') },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
    security: [{ bearer: [] }, {}],
    paths,
  };
}

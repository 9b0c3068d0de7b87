import { z } from 'zod';
import { jobSpecSchema, notifiableStatusSchema, resubmitSchema } from '../domain/jobSpec.js';
import { presetSchema } from '../domain/presets.js';
import { JOB_CONDITIONS, JOB_STATUSES, TASK_STATUSES } from '../domain/lifecycle.js';
import {
  addTasksSchema,
  jobPatchSchema,
  listJobsQuerySchema,
  listTasksQuerySchema,
  templatePutSchema,
} from '../jobs/jobsApi.js';
import { uploadUrlQuerySchema } from '../jobs/inboxApi.js';
import { taskLogQuerySchema } from '../jobs/jobFiles.js';
import { ownerEventsQuerySchema } from '../jobs/ownerStreams.js';
import { poolCreateSchema, poolResizeSchema } from '../jobs/poolsApi.js';
import { callerViewSchema, rolesSourceRequestSchema } from '../identity.js';
import {
  deliveriesQuerySchema,
  redeliverDeadLettersQuerySchema,
  subscriptionCreateSchema,
  subscriptionUpdateSchema,
} from '../notifications/subscriptionsApi.js';

/**
 * What the API answers, as schemas: they generate the OpenAPI document, and the end-to-end tests
 * parse real answers with them, so the document cannot drift from what is served.
 */
const taskCounts = z.record(z.enum(TASK_STATUSES), z.number().int().min(0));

export const jobViewSchema = z.object({
  id: z.string(),
  owner: z.string(),
  name: z.string(),
  description: z.string().optional(),
  template: z.string().optional(),
  pool: z.string(),
  tags: z.record(z.string(), z.string()),
  priority: z.number().int().describe('Batch job priority, -1000 to 1000'),
  resubmittedFrom: z.string().optional().describe('the job this one was resubmitted from'),
  resubmissions: z.array(z.string()).describe('jobs resubmitted from this one, oldest first'),
  open: z
    .boolean()
    .describe(
      'takes more tasks (POST /jobs/{id}/tasks): submitted with completeWhenTasksFinish false, not yet completed',
    ),
  status: z.enum(JOB_STATUSES),
  condition: z.enum(JOB_CONDITIONS).optional(),
  message: z.string(),
  exitCodes: z.record(z.string(), z.number().int()).optional(),
  taskCount: z.number().int().min(0),
  taskCounts,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  links: z.object({ self: z.string(), history: z.string(), tasks: z.string() }),
  spec: z.unknown().optional().describe('the submitted spec (on GET /jobs/{id})'),
});

export const historyEntrySchema = z.object({
  sequence: z.number().int().min(1),
  status: z.enum(JOB_STATUSES),
  previousStatus: z.enum(JOB_STATUSES).optional(),
  condition: z.enum(JOB_CONDITIONS).optional(),
  message: z.string(),
  at: z.iso.datetime(),
  taskCounts: taskCounts.optional(),
  exitCodes: z.record(z.string(), z.number().int()).optional(),
  taskSequence: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('task events (`task.status.changed`) numbered up to this one happened before this change'),
});

export const taskViewSchema = z.object({
  id: z.string(),
  status: z.enum(TASK_STATUSES),
  attempt: z.number().int().min(1),
  exitCode: z.number().int().optional(),
  failure: z.object({ code: z.string(), message: z.string() }).optional(),
  startedAt: z.iso.datetime().optional(),
  endedAt: z.iso.datetime().optional(),
  updatedAt: z.string(),
});

export const taskGraphSchema = z.object({
  planned: z.boolean().describe('false until the job’s inputs are processed and its tasks planned'),
  tasks: z.array(
    z.object({
      id: z.string(),
      dependsOn: z.array(z.string()).describe('the tasks this one waits for'),
      dependsOnRanges: z
        .array(z.tuple([z.number().int(), z.number().int()]))
        .describe('and every task whose id is a whole number in one of these ranges (inclusive)'),
      runDependentsOnFailure: z.boolean().describe('whether tasks waiting for this one run even if it fails'),
    }),
  ),
});

export const outputListingSchema = z.object({
  archived: z.boolean().describe('true once the job has ended and its outputs were archived'),
  bytes: z.number().int().min(0),
  files: z.array(
    z.object({
      path: z.string().describe('<taskId>/<path in the task’s working directory>'),
      taskId: z.string(),
      size: z.number().int().min(0),
      contentType: z.string().optional(),
      lastModified: z.iso.datetime(),
      links: z.object({ download: z.string() }),
    }),
  ),
});

export const templateViewSchema = z.object({
  name: z.string(),
  version: z.string(),
  owner: z.string(),
  public: z.boolean(),
  description: z.string().optional(),
  body: z.record(z.string(), z.unknown()),
  createdAt: z.iso.datetime(),
});

export const poolViewSchema = z.object({
  id: z.string(),
  vmSize: z.string(),
  state: z.enum(['active', 'deleting']),
  allocationState: z.enum(['steady', 'resizing', 'stopping']),
  dedicatedNodes: z.number().int(),
  targetDedicatedNodes: z.number().int(),
  lowPriorityNodes: z.number().int(),
  targetLowPriorityNodes: z.number().int(),
  slotsPerNode: z.number().int(),
  resizeErrors: z
    .array(z.object({ code: z.string(), message: z.string() }))
    .describe('why the pool last failed to reach its target size (capacity, quota); empty when it did'),
  creationTime: z.string().optional(),
});

export const subscriptionViewSchema = z.object({
  id: z.string(),
  target: z.union([
    z.object({ kind: z.literal('webhook'), url: z.string() }),
    z.object({ kind: z.literal('email'), address: z.string() }),
  ]),
  events: z.array(z.string()),
  jobId: z.string().optional(),
  statuses: z.array(notifiableStatusSchema).optional(),
  enabled: z.boolean(),
  perJob: z.boolean(),
  expiresAt: z.iso.datetime().optional(),
  createdAt: z.iso.datetime(),
  links: z.object({ deliveries: z.string() }),
  enabledAt: z.iso.datetime().optional().describe('when it was last turned on again'),
  disabledReason: z.string().optional().describe('why it stopped: a 410 from the endpoint, or its job ended'),
  secret: z.string().optional().describe('only in the answer to POST /subscriptions'),
  previousSecretSignsUntil: z.iso
    .datetime()
    .optional()
    .describe('after a rotation, until when the replaced secret signs alongside the new one'),
});

export const deliveryAttemptSchema = z.object({
  at: z.iso.datetime(),
  durationMs: z.number().int().min(0),
  outcome: z.enum(['delivered', 'gone', 'failed']),
  statusCode: z.number().int().optional().describe('HTTP status, or the SMTP reply code'),
  error: z.string().optional().describe('why there was no acceptable answer'),
  manual: z.boolean().optional().describe('asked for through the retry endpoint'),
});

export const deliveryViewSchema = z.object({
  subscriptionId: z.string(),
  id: z
    .string()
    .describe(
      "the webhook-id: a job event's `<jobId>:<sequence>` (also its CloudEvent id), or a task batch's `<jobId>:t<first task log sequence>`",
    ),
  jobId: z.string(),
  sequence: z.number().int().min(1).describe('the job change, or the first task log entry a batch covers'),
  lastSequence: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('a task batch: the last task log entry it covers'),
  events: z.number().int().min(1).optional().describe('a task batch: how many task events it carries'),
  eventType: z.string().describe('`job.status.changed`, or `task.status.changed` for a batch of task events'),
  status: z.enum(['pending', 'retrying', 'delivered', 'dead-lettered']),
  attempts: z.array(deliveryAttemptSchema),
  nextAttemptAt: z.iso.datetime().optional(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  event: z
    .unknown()
    .describe(
      'what was posted (a CloudEvent; for task events an array of them, `application/cloudevents-batch+json`) or the email sent',
    ),
  links: z.object({ retry: z.string() }),
});

export const uploadUrlSchema = z.object({
  url: z.string(),
  container: z.string(),
  blobName: z.string(),
  expiresOn: z.iso.datetime(),
  method: z.literal('PUT'),
  headers: z.record(z.string(), z.string()),
});

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  instance: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  invocationId: z.string().optional(),
  retryAfterSeconds: z.number().int().optional(),
});

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
        'A task’s stdout or stderr (text/plain): a running task’s as it is now, or with follow=true as it grows until the task ends; 204 when a follow has nothing left',
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

import { z } from 'zod';
import { JOB_CONDITIONS, JOB_STATUSES, TASK_STATUSES } from '../domain/lifecycle.js';
import { notifiableStatusSchema } from '../domain/jobSpec.js';

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

/** `GET /jobs/{id}/tasks/{taskId}/attempts`: each run of a task, with the size of its logs. */
export const taskAttemptsSchema = z.object({
  taskId: z.string(),
  running: z.boolean(),
  items: z.array(
    z.object({
      attempt: z.number().int().min(1).describe('1 is the first run'),
      running: z.boolean().describe('whether this attempt is running now'),
      stdoutBytes: z.number().int().min(0).optional().describe('once the task has ended'),
      stderrBytes: z.number().int().min(0).optional(),
      links: z.object({ stdout: z.string(), stderr: z.string() }),
    }),
  ),
});

/** `GET /files/upload-url`: where to put one of your files. */
export const fileUploadUrlSchema = uploadUrlSchema.extend({
  path: z.string().describe('the file’s path in your files; a job names it `files://<path>`'),
});

/** The API path that downloads one of the caller's files. */
export const fileLink = (path: string) => ({
  download: `/api/files/${path.split('/').map(encodeURIComponent).join('/')}`,
});

/** One of your files, as `GET /files` lists it. */
export const userFileViewSchema = z.object({
  path: z.string(),
  size: z.number().int().min(0),
  contentType: z.string().optional(),
  lastModified: z.iso.datetime(),
  source: z.string().describe('what a job spec names it by: `files://<path>`'),
  links: z.object({ download: z.string() }),
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

/** One of the caller's secrets as the API shows it: its name and when it was set, never its value. */
export const secretViewSchema = z.object({
  name: z.string(),
  updatedAt: z.iso.datetime(),
  ref: z
    .object({ secretRef: z.string() })
    .describe('what a job’s env value names it by: `{"secretRef": "<name>"}`'),
});

/** The view of a secret: nothing of its value. */
export function secretView(secret: { name: string; updatedAt: string }): z.infer<typeof secretViewSchema> {
  return { name: secret.name, updatedAt: secret.updatedAt, ref: { secretRef: secret.name } };
}

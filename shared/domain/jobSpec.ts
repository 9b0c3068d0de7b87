import { z } from 'zod';
import { BUILTIN_MACROS, MACRO_NAME } from './macros.js';
import { JOB_STATUSES, TASK_STATUSES } from './lifecycle.js';
import { eventTypeMatches, type NotifiableStatus } from './subscriptionFilter.js';
import { poolIdSchema, slotsSchema } from './presets.js';

/**
 * The job spec: what `POST /api/jobs` takes and what a manifest in the blob inbox holds (the
 * contract is `api.md`). Every object is strict, so a misspelt field is an error rather than a
 * silently ignored default. These schemas also generate `/api/openapi.json`.
 */

/** Limits on one job; config may change them (see `shared/config.ts`). */
export interface SpecLimits {
  /** Tasks in one job, after a sweep is expanded. */
  maxTasks: number;
  /** Characters in one task's command, after macros are expanded. */
  maxCommandLength: number;
  /** Bytes of one task's environment (names and values), after macros are expanded. */
  maxEnvBytes: number;
  /** Dependency edges in one job, ranges counted id by id. */
  maxDependencyEdges: number;
}

/**
 * Defaults: Batch takes command lines up to 8,191 characters; 100,000 tasks is ten times the
 * workload cloudjobs is built for; environments past 32 KiB usually mean data belongs in a file.
 */
export const DEFAULT_LIMITS: SpecLimits = {
  maxTasks: 100_000,
  maxCommandLength: 8191,
  maxEnvBytes: 32 * 1024,
  maxDependencyEdges: 2_000_000,
};

/** Job and template names: 1-64 of [A-Za-z0-9_-], after whitespace is removed. */
export const nameSchema = z
  .string()
  .transform((value) => value.replace(/\s+/g, ''))
  .pipe(
    z
      .string()
      .min(1, 'must not be empty')
      .max(64, 'must be at most 64 characters')
      .regex(/^[A-Za-z0-9_-]+$/, 'may contain only letters, digits, "_" and "-"'),
  );

/** A template version: 1-32 of [0-9A-Za-z.+-], starting with a letter or digit (e.g. `0.0.2`). */
export const versionSchema = z
  .string()
  .regex(/^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$/, 'must be 1-32 of letters, digits, ".", "+" and "-"');

/** `name@version` of a registered template. */
export const templateRefSchema = z
  .string()
  .regex(/^[^@\s]+@[^@\s]+$/, 'must be "name@version", e.g. "img-classifier@0.0.2"')
  .transform((value, context) => {
    const [name, version] = value.split('@') as [string, string];
    const parsedName = nameSchema.safeParse(name);
    const parsedVersion = versionSchema.safeParse(version);
    if (!parsedName.success || !parsedVersion.success) {
      context.addIssue({
        code: 'custom',
        message: `"${value}" is not a valid template reference: the name ${
          parsedName.success ? 'is fine' : parsedName.error.issues[0]!.message
        }, the version ${parsedVersion.success ? 'is fine' : parsedVersion.error.issues[0]!.message}`,
      });
      return z.NEVER;
    }
    return { name: parsedName.data, version: parsedVersion.data };
  });

/** A Batch task id: 1-64 of [A-Za-z0-9_-]; numbers are taken as their decimal string. */
export const taskIdSchema = z
  .union([z.string(), z.number().int().positive()])
  .transform((value) => String(value))
  .pipe(
    z
      .string()
      .min(1, 'must not be empty')
      .max(64, 'must be at most 64 characters')
      .regex(/^[A-Za-z0-9_-]+$/, 'may contain only letters, digits, "_" and "-"'),
  );

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name ([A-Za-z_][A-Za-z0-9_]*)')
  .refine((name) => !name.startsWith('AZ_BATCH_'), 'must not start with AZ_BATCH_ (Batch sets those)');

/**
 * The name of one of an owner's secrets: lowercase because Azure Key Vault's names are
 * case-insensitive, and without `_` or `.`, which it refuses.
 */
export const secretNameSchema = z
  .string()
  .regex(
    /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
    'must be 1-63 lowercase letters, digits and inner hyphens (like "db-password")',
  );

/** A reference to one of the job owner's secrets, resolved only when its tasks go to Batch. */
export const secretRefSchema = z.strictObject({
  secretRef: secretNameSchema.describe('the name of one of your secrets (PUT /api/secrets/{name})'),
});

/** Environment variables; values may use macros, or reference one of the owner's secrets. */
export const envSchema = z.record(envName, z.union([z.string().max(32 * 1024), secretRefSchema]));

/** One environment value of a spec: text, or a secret's name. */
export type EnvValue = z.infer<typeof envSchema>[string];

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform((value) => String(value));

/** Values for `${name}` macros; a parameter may not shadow a built-in macro. */
export const parametersSchema = z.record(
  z
    .string()
    .regex(MACRO_NAME, 'must be a macro name ([A-Za-z_][A-Za-z0-9_]*)')
    .refine(
      (name) => !(BUILTIN_MACROS as readonly string[]).includes(name),
      `must not be a built-in macro (${BUILTIN_MACROS.join(', ')})`,
    ),
  scalar,
);

const relativePath = z.string().min(1).max(1024);

/** A file a task needs: from blob or https, placed at `target` in its working directory. */
export const sourceInputSchema = z.strictObject({
  source: z.string().min(1).max(2048).describe('blob://<container>/<path> or https://...'),
  target: relativePath.optional().describe('relative path in the task working directory'),
});

/** Another task's output, which makes that task a dependency. */
export const fromTaskInputSchema = z.strictObject({
  fromTask: taskIdSchema,
  path: relativePath.describe("a file among the producing task's declared outputs"),
  target: relativePath.optional(),
});

export const inputSchema = z.union([sourceInputSchema, fromTaskInputSchema]);

const retries = z.number().int().min(0).max(100);
/** The longest any of a job's time limits may be: 30 weeks, in minutes. */
export const MAX_JOB_MINUTES = 7 * 24 * 60 * 30;
const minutes = z.number().positive().max(MAX_JOB_MINUTES, 'must be at most 30 weeks');
const range = z
  .tuple([z.number().int().min(1), z.number().int().min(1)])
  .refine(([start, end]) => start <= end, 'must be [start, end] with start ≤ end');

const exitCode = z.number().int().min(-2147483648).max(2147483647);

/**
 * What a task's exit codes mean besides 0 (success) and the rest (failure, retried as the task
 * says): codes that count as success, codes that fail the whole job at once (not retried), and
 * codes after which the task has failed but its dependents run.
 */
export const exitCodesSchema = z
  .strictObject({
    success: z.array(exitCode).max(64).optional().describe('count as success (0 always does)'),
    failJob: z
      .array(exitCode)
      .max(64)
      .optional()
      .describe('fail the whole job at once, without retrying the task'),
    runDependents: z
      .array(exitCode)
      .max(64)
      .optional()
      .describe("the task has failed, but its dependents run (Batch's dependency action: satisfy)"),
  })
  .superRefine((rules, context) => {
    const seen = new Map<number, string>();
    for (const list of ['success', 'failJob', 'runDependents'] as const) {
      (rules[list] ?? []).forEach((code, i) => {
        const earlier = seen.get(code);
        if (earlier !== undefined && earlier !== list) {
          context.addIssue({ code: 'custom', path: [list, i], message: `${code} is also in ${earlier}` });
        }
        if (list === 'failJob' && code === 0) {
          context.addIssue({
            code: 'custom',
            path: [list, i],
            message: '0 is success; it cannot fail the job',
          });
        }
        seen.set(code, list);
      });
    }
  });

/** A preset's name, as a spec names it. */
const presetNameSchema = z.string().min(1).max(32);

/** One task of a job; its fields override the job's defaults. */
export const taskSchema = z.strictObject({
  id: taskIdSchema.optional().describe('required unless taskIdStyle is "int"'),
  command: z.string().min(1),
  image: z.string().min(1).max(512).optional(),
  env: envSchema.optional(),
  inputs: z.array(inputSchema).max(1000).optional(),
  outputs: z.array(z.string().min(1).max(1024)).max(100).optional(),
  dependsOn: z.array(taskIdSchema).optional(),
  dependsOnRange: range.optional().describe('integer task ids, inclusive; needs taskIdStyle "int"'),
  runDependentsOnFailure: z.boolean().optional(),
  retries: retries.optional(),
  timeoutMinutes: minutes.optional(),
  preset: presetNameSchema.optional().describe("a preset on the job's pool: sets the task's slots"),
  slots: slotsSchema.optional(),
  exitCodes: exitCodesSchema.optional().describe("what its exit codes mean (instead of the job's)"),
});

/** Many tasks from one command: one per index of `range`, with `${index}` in its macros. */
export const sweepSchema = z.strictObject({
  command: z.string().min(1),
  range,
  image: z.string().min(1).max(512).optional(),
  env: envSchema.optional(),
  inputs: z.array(sourceInputSchema).max(1000).optional(),
  outputs: z.array(z.string().min(1).max(1024)).max(100).optional(),
  retries: retries.optional(),
  timeoutMinutes: minutes.optional(),
  preset: presetNameSchema.optional().describe("a preset on the job's pool: sets each task's slots"),
  slots: slotsSchema.optional(),
  exitCodes: exitCodesSchema.optional(),
});

/**
 * An event type or glob a subscription chooses events by, e.g. `job.*`. Task events
 * (`task.status.changed`) are opt-in: only a pattern naming `task` receives them.
 */
export const eventPatternSchema = z
  .string()
  .regex(
    /^(\*|(job|task)(\.(\*|[a-z]+))*)$/,
    'must be an event type or glob, e.g. "job.*", "job.status.changed" or "task.*"',
  );

/** A status a subscription may filter on: a job's or a task's (`FAILED` is both). */
export const notifiableStatusSchema = z.enum([
  ...new Set<NotifiableStatus>([...JOB_STATUSES, ...TASK_STATUSES]),
] as [NotifiableStatus, ...NotifiableStatus[]]);

/**
 * Refuses a status filter naming a status no chosen event can have (`SUCCEEDED` is a task's, so it
 * needs `task.*`; `FINISHED` a job's): such a filter would silently receive nothing.
 */
export function checkStatusFilter(
  filter: { events: readonly string[]; statuses?: readonly string[] | undefined },
  context: z.core.$RefinementCtx,
): void {
  const types = (['job.status.changed', 'task.status.changed'] as const).filter((type) =>
    filter.events.some((pattern) => eventTypeMatches(pattern, type)),
  );
  filter.statuses?.forEach((status, i) => {
    const job = (JOB_STATUSES as readonly string[]).includes(status);
    const task = (TASK_STATUSES as readonly string[]).includes(status);
    if ((job && types.includes('job.status.changed')) || (task && types.includes('task.status.changed')))
      return;
    context.addIssue({
      code: 'custom',
      path: ['statuses', i],
      message: job
        ? `${status} is a job status, and these events are task events only; add "job.*" to events`
        : `${status} is a task status, and these events are job events only; add "task.*" to events`,
    });
  });
}

/** A notification declared in the spec: it lasts until the job's final event is delivered. */
export const notificationSchema = z
  .union([
    z.strictObject({
      url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048),
      events: z.array(eventPatternSchema).min(1).default(['job.*']),
      statuses: z.array(notifiableStatusSchema).optional(),
    }),
    z.strictObject({
      email: z.email().max(254),
      events: z.array(eventPatternSchema).min(1).default(['job.*']),
      statuses: z.array(notifiableStatusSchema).optional(),
    }),
  ])
  .superRefine(checkStatusFilter);

/** A job's id, as cloudjobs gives them out. */
export const jobIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a job id: 1-64 of letters, digits and "-"');

/** A job's priority on Batch: higher runs first when jobs share a pool. */
export const jobPrioritySchema = z
  .number()
  .int('must be a whole number')
  .min(-1000)
  .max(1000)
  .describe('Batch job priority, -1000 to 1000 (default 0): higher runs first on a shared pool');

const specFields = {
  name: nameSchema,
  description: z.string().max(4096),
  pool: poolIdSchema,
  preset: presetNameSchema.describe(
    'a resource preset of the deployment (GET /api/presets), instead of pool: its pool, and the slots each task takes',
  ),
  image: z.string().min(1).max(512),
  parameters: parametersSchema,
  env: envSchema,
  inputs: z.array(sourceInputSchema).max(1000),
  outputs: z.strictObject({ patterns: z.array(z.string().min(1).max(1024)).max(100) }),
  logs: z.strictObject({
    container: z.string().min(3).max(63).optional(),
    folder: z.string().min(1).max(1024).optional(),
  }),
  retries,
  exitCodes: exitCodesSchema.describe("what tasks' exit codes mean, for tasks that do not say"),
  timeoutMinutes: minutes,
  maxQueuedMinutes: minutes.describe(
    'fail the job (QUEUED_TOO_LONG) if none of its tasks has started this long after it was queued; the deployment sets a default',
  ),
  maxBlockedMinutes: minutes.describe(
    'fail the job (BLOCKED_TOO_LONG) if it waits BLOCKED this long; the deployment sets a default',
  ),
  priority: jobPrioritySchema,
  completeWhenTasksFinish: z.boolean(),
  resumeFrom: jobIdSchema.describe(
    'an ended job of yours with the same tasks: those that succeeded there (or in the jobs it resumed from) are not run again, and their outputs are read from where they were written',
  ),
  allowCancelledTasks: z
    .boolean()
    .describe(
      'a task cancelled on its own does not fail the job: it finishes if every other task succeeded (default false)',
    ),
  taskIdStyle: z.enum(['string', 'int']),
  tasks: z.array(taskSchema).min(1),
  sweep: sweepSchema,
  notifications: z.array(notificationSchema).max(20),
  tags: z.record(z.string().min(1).max(64), z.string().max(256)),
};

/**
 * Body of `POST /jobs/{id}/resubmit`: which tasks to run again, and what to change for the new
 * job. Parameters and env are merged over the original's; the rest replace it.
 */
export const resubmitSchema = z.strictObject({
  tasks: z
    .enum(['all', 'failed'])
    .describe(
      '`all`: run the whole job again. `failed`: only the tasks that did not succeed (failed, skipped, cancelled or never run); the rest count as done and their outputs are read from the original',
    ),
  parameters: specFields.parameters.optional(),
  env: specFields.env.optional(),
  pool: specFields.pool.optional(),
  retries: specFields.retries.optional(),
  timeoutMinutes: specFields.timeoutMinutes.optional(),
});

const optionalFields = Object.fromEntries(
  Object.entries(specFields).map(([key, schema]) => [key, schema.optional()]),
) as { [K in keyof typeof specFields]: z.ZodOptional<(typeof specFields)[K]> };

/** A submitted job spec (before its template is applied). `name` and tasks may come from the template. */
export const jobSpecSchema = z
  .strictObject({ ...optionalFields, template: templateRefSchema.optional() })
  .refine((spec) => !(spec.tasks && spec.sweep), {
    message: 'give either tasks or sweep, not both',
    path: ['sweep'],
  })
  .refine((spec) => Object.keys(spec.tags ?? {}).length <= 50, {
    message: 'at most 50 tags',
    path: ['tags'],
  });

/** The body of a template version: a partial job spec whose fields are defaults. */
export const templateBodySchema = z.strictObject(optionalFields);

export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type TemplateBody = z.infer<typeof templateBodySchema>;
export type TaskSpec = z.infer<typeof taskSchema>;
export type SweepSpec = z.infer<typeof sweepSchema>;
export type InputSpec = z.infer<typeof inputSchema>;
export type NotificationSpec = z.infer<typeof notificationSchema>;

/**
 * A stored spec as its author wrote it: stored as parsed, its template reference is
 * `{ name, version }`, which a spec writes `name@version`. What the API shows, and what a
 * resubmission parses again.
 */
export function specAsWritten(spec: JobSpec): Omit<JobSpec, 'template'> & { template?: string } {
  const { template, ...rest } = spec;
  return template ? { ...rest, template: `${template.name}@${template.version}` } : rest;
}

import type { z } from 'zod';
import type { jobSpecSchema, resubmitSchema } from '../shared/domain/jobSpec.js';
import type { presetSchema } from '../shared/domain/presets.js';
import type {
  deliveryViewSchema,
  historyEntrySchema,
  jobViewSchema,
  outputListingSchema,
  poolViewSchema,
  problemSchema,
  taskGraphSchema,
  subscriptionViewSchema,
  taskViewSchema,
  templateViewSchema,
  uploadUrlSchema,
  fileUploadUrlSchema,
  userFileViewSchema,
  secretViewSchema,
  taskAttemptsSchema,
} from '../shared/http/openapi.js';
import type { callerViewSchema } from '../shared/identity.js';
import type {
  addTasksSchema,
  jobPatchSchema,
  listJobsQuerySchema,
  listTasksQuerySchema,
  templatePutSchema,
} from '../shared/jobs/jobsApi.js';
import type { poolCreateSchema, poolResizeSchema } from '../shared/jobs/poolsApi.js';
import type {
  deliveriesQuerySchema,
  subscriptionCreateSchema,
} from '../shared/notifications/subscriptionsApi.js';

// Every type here is inferred from the schema the API validates or answers with: a change to the
// API changes the client's types, and nothing is copied by hand. Only types are imported, so the
// client carries none of the service's code.

/** A job as the API answers it. */
export type Job = z.output<typeof jobViewSchema>;
/** A job's status. */
export type JobStatus = Job['status'];
/** What a job is submitted as (JSON or YAML parsed to the same shape). */
export type JobSpec = z.input<typeof jobSpecSchema>;
/** One change in a job's history. */
export type HistoryEntry = z.output<typeof historyEntrySchema>;
/** A task as the API answers it. */
export type Task = z.output<typeof taskViewSchema>;
/** A task's state. */
export type TaskStatus = Task['status'];
/** A job's task graph: each task and the tasks it waits for. */
export type TaskGraph = z.output<typeof taskGraphSchema>;
/** A job's output files. */
export type OutputListing = z.output<typeof outputListingSchema>;
/** One output file. */
export type OutputFile = OutputListing['files'][number];
export type Template = z.output<typeof templateViewSchema>;
export type TemplateVersionInput = z.input<typeof templatePutSchema>;
export type Pool = z.output<typeof poolViewSchema>;
/** A resource preset of the deployment: what a task gets, and the pool and slots behind it. */
export type Preset = z.output<typeof presetSchema>;
export type PoolCreate = z.input<typeof poolCreateSchema>;
export type PoolResize = z.input<typeof poolResizeSchema>;
export type Subscription = z.output<typeof subscriptionViewSchema>;
export type SubscriptionCreate = z.input<typeof subscriptionCreateSchema>;
export type Delivery = z.output<typeof deliveryViewSchema>;
export type DeliveriesQuery = Partial<z.output<typeof deliveriesQuerySchema>>;
export type UploadUrl = z.output<typeof uploadUrlSchema>;
/** Where to put one of your files (`GET /files/upload-url`). */
export type FileUploadUrl = z.output<typeof fileUploadUrlSchema>;
/** Each attempt of a task, with the size of its logs. */
export type TaskAttempts = z.output<typeof taskAttemptsSchema>;
/** One of your files, which a job takes as an input `files://<path>`. */
export type UserFile = z.output<typeof userFileViewSchema>;
/** One of your secrets as the API shows it: its name, when it was set, and how a job names it. */
export type Secret = z.output<typeof secretViewSchema>;
/** An RFC 9457 problem document, as every error is answered. */
export type Problem = z.output<typeof problemSchema>;
/** What may change while a job runs (`PATCH /jobs/{id}`). */
export type JobPatch = z.input<typeof jobPatchSchema>;
/** A task of a job spec, as `POST /jobs/{id}/tasks` takes them. */
export type TaskSpec = z.input<typeof addTasksSchema>['tasks'][number];
/** What `POST /jobs/{id}/resubmit` takes: which tasks to run again, and what to change. */
export type ResubmitRequest = z.input<typeof resubmitSchema>;
/** Who the service takes you to be (`GET /me`). */
export type Caller = z.output<typeof callerViewSchema>;
export type JobsQuery = Partial<z.output<typeof listJobsQuerySchema>>;
export type TasksQuery = Partial<z.output<typeof listTasksQuerySchema>>;

/** A page of a listing, and the token for the next one when there is more. */
export interface Page<T> {
  items: T[];
  continuation?: string;
}

/** The final statuses: a job in one never changes again. */
export const FINAL_STATUSES: readonly JobStatus[] = ['FINISHED', 'FAILED', 'CANCELLED'];

/** Task states a task does not leave: it will not run again. */
export const DONE_TASK_STATUSES: readonly TaskStatus[] = ['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'];

/** How many of a job's tasks are done, whichever way they ended. */
export const doneCount = (counts: Partial<Record<TaskStatus, number>>): number =>
  DONE_TASK_STATUSES.reduce((n, state) => n + (counts[state] ?? 0), 0);

/**
 * Every job status and task state, for choices and filters. The client may not load the
 * service's modules, so the lists are written here; the checks below fail the build if one
 * misses a status the API has or names one it does not.
 */
export const JOB_STATUS_NAMES = [
  'PENDING',
  'PROCESSING_INPUTS',
  'STAGING_INPUTS',
  'STAGING_JOB',
  'SUBMITTING_JOB',
  'QUEUED',
  'RUNNING',
  'ARCHIVING',
  'BLOCKED',
  'PAUSED',
  'FINISHED',
  'CANCELLED',
  'FAILED',
] as const satisfies readonly JobStatus[];
export const TASK_STATUS_NAMES = [
  'PENDING',
  'QUEUED',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'SKIPPED',
  'CANCELLED',
] as const satisfies readonly TaskStatus[];
/** The orders `jobs.list` can answer in (`sort`): newest first, or highest priority first. */
export const JOB_SORT_NAMES = ['submitted', 'priority'] as const satisfies ReadonlyArray<
  NonNullable<JobsQuery['sort']>
>;
export type JobSort = (typeof JOB_SORT_NAMES)[number];
type Complete<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : false;
const jobStatusesComplete: Complete<JobStatus, (typeof JOB_STATUS_NAMES)[number]> = true;
const taskStatusesComplete: Complete<TaskStatus, (typeof TASK_STATUS_NAMES)[number]> = true;
const jobSortsComplete: Complete<NonNullable<JobsQuery['sort']>, JobSort> = true;
void jobStatusesComplete;
void jobSortsComplete;
void taskStatusesComplete;

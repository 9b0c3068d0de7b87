import { AppError, ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { parseInput } from '../domain/issues.js';
import { resubmitSchema, specAsWritten, taskIdSchema, type JobSpec } from '../domain/jobSpec.js';
import { isFinal, type JobStatus } from '../domain/lifecycle.js';
import type { TaskChangesLogged } from '../domain/events.js';
import type { Caller } from '../identity.js';
import type { JobRecord, JobStore, TaskRecord } from '../store/jobStore.js';
import { addTasksSchema, type JobsApi } from './jobsApi.js';
import type { TaskAdditions } from './taskAdditions.js';
import type { RaiseSignal, TaskSignals } from './taskSignals.js';

/** The statuses (or, held, the status left) in which a job's tasks are on Batch. */
const TASKS_ON_BATCH: readonly JobStatus[] = ['SUBMITTING_JOB', 'QUEUED', 'RUNNING', 'ARCHIVING'];

/** Where a job stands on its way: its status, or, while held (BLOCKED, PAUSED), the one it left. */
const stageOf = (job: JobRecord): JobStatus | undefined =>
  job.status === 'BLOCKED' || job.status === 'PAUSED' ? job.resumeStatus : job.status;

/**
 * What a job's owner does to its tasks and runs beyond cancel, pause and resume: resubmit an
 * ended job, add tasks to an open one, cancel one task. Each looks the job up as the rest of the
 * API does (someone else's is missing) before anything changes.
 */
export class JobControls {
  readonly #jobs: Pick<JobsApi, 'job' | 'submit'>;
  readonly #store: JobStore;

  constructor(options: { jobs: Pick<JobsApi, 'job' | 'submit'>; store: JobStore }) {
    this.#jobs = options.jobs;
    this.#store = options.store;
  }

  /**
   * Submits an ended job again as a new one, from the spec it was submitted with (so a template's
   * version and an inbox manifest come along), with `parameters` and `env` merged over its own and
   * `pool`, `retries` and `timeoutMinutes` replaced. `failed` resumes from it: only the tasks
   * that did not succeed run, the others' outputs are read where they were written. The new job
   * names the original (`resubmittedFrom`) and the original lists it (`resubmissions`).
   */
  async resubmit(
    caller: Caller,
    id: string,
    body: unknown,
    raw: Buffer,
    idempotencyKey?: string,
  ): Promise<{ job: JobRecord; created: boolean }> {
    const request = parseInput(resubmitSchema, body);
    const original = await this.#jobs.job(caller, id);
    if (original.owner !== caller.owner) {
      // An admin may read anyone's job, but a job runs as its owner: resubmitting is theirs to do.
      throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    }
    if (!isFinal(original.status)) {
      throw new ConflictError(
        `job ${id} is ${original.status}; resubmit it once it has ended (or cancel it first)`,
        'JOB_NOT_FINAL',
        { details: { status: original.status } },
      );
    }
    const { resumeFrom: _earlier, ...spec } = await this.#store.getSpec(id);
    const next: JobSpec = { ...spec };
    if (request.tasks === 'failed') {
      const counts = (await this.#store.taskCounts(id)) ?? original.taskCounts;
      if (original.taskCount > 0 && counts.SUCCEEDED >= original.taskCount) {
        throw new ValidationError('nothing is left to run', [
          { path: 'tasks', message: `every task of job ${id} succeeded; ask for "all" to run them again` },
        ]);
      }
      next.resumeFrom = id;
    }
    if (request.parameters) next.parameters = { ...spec.parameters, ...request.parameters };
    if (request.env) next.env = { ...spec.env, ...request.env };
    if (request.pool !== undefined) next.pool = request.pool;
    if (request.retries !== undefined) next.retries = request.retries;
    if (request.timeoutMinutes !== undefined) next.timeoutMinutes = request.timeoutMinutes;
    // The key is the caller's for this request: the same key resubmitting another job is a reuse.
    const digestOf = Buffer.concat([Buffer.from(`resubmit ${id}\n`), raw]);
    const submitted = await this.#jobs.submit(caller, specAsWritten(next), digestOf, idempotencyKey, {
      resubmittedFrom: id,
    });
    // Also on a replay: the first request may have stored the job and died before this.
    await this.#store.addResubmission(id, submitted.job.id);
    return submitted;
  }

  /**
   * Adds tasks to an open job (submitted with completeWhenTasksFinish false, not yet completed)
   * whose tasks are on Batch: checked with the job's own (ids unique across it, dependencies on
   * tasks there or among these) and counted in it; the job's orchestration, told by `raise`,
   * records, plans and submits each addition in turn. A repeat with the same key changes nothing
   * more and tells the orchestration again, so one whose telling a crash cut short goes on.
   */
  async addTasks(
    caller: Caller,
    id: string,
    body: unknown,
    key: string | undefined,
    additions: Pick<TaskAdditions, 'check'>,
    raise: RaiseSignal,
  ): Promise<{ job: JobRecord; added: number; replayed: boolean }> {
    const request = parseInput(addTasksSchema, body);
    const job = await this.#jobs.job(caller, id);
    if (job.owner !== caller.owner) throw new NotFoundError(`job ${id} does not exist`, 'JOB_NOT_FOUND');
    if (!isFinal(job.status) && !job.open) {
      const spec = await this.#store.getSpec(id);
      throw new ConflictError(
        spec.completeWhenTasksFinish === false
          ? `job ${id} was completed: it takes no more tasks`
          : `job ${id} was submitted to end with its tasks; submit with "completeWhenTasksFinish": false to add tasks later`,
        'JOB_NOT_OPEN',
      );
    }
    const stage = stageOf(job);
    if (!isFinal(job.status) && (stage === undefined || !['QUEUED', 'RUNNING'].includes(stage))) {
      throw new AppError(
        'JOB_NOT_READY',
        `job ${id} is ${job.status}: it takes tasks once its first ones are on Batch (QUEUED); try again then`,
        409,
        'backoff',
        { retryAfterMs: 5000, details: { status: job.status } },
      );
    }
    const appended = await this.#store.appendTasks(id, {
      tasks: request.tasks,
      ...(key !== undefined ? { key } : {}),
      check: async (spec) => {
        if (spec.sweep) {
          throw new ValidationError('a sweep takes no more tasks', [
            {
              path: 'tasks',
              message: 'the job is a sweep: tasks can be added only to a job of listed tasks',
            },
          ]);
        }
        await additions.check(id, job.owner, spec, request.tasks.length);
      },
    });
    // The orchestration records and submits them, one addition after another, in order.
    await raise(id, { type: 'tasksAdded', set: appended.set, first: appended.first, count: appended.count });
    return { job: appended.job, added: appended.count, replayed: appended.replayed };
  }

  /**
   * Cancels one task of the caller's job; the job carries on (see `TaskSignals.cancelTask`, and
   * `judgeTasks` for how the job then ends). Only tasks on Batch can be: before its job has
   * submitted them, the caller is asked to try again.
   */
  async cancelTask(
    caller: Caller,
    id: string,
    taskId: string,
    signals: Pick<TaskSignals, 'cancelTask'>,
    raise: RaiseSignal,
  ): Promise<{ task: TaskRecord; logged: TaskChangesLogged[] }> {
    const parsedTaskId = parseInput(taskIdSchema, taskId, 'taskId');
    const job = await this.#jobs.job(caller, id);
    if (isFinal(job.status)) {
      throw new ConflictError(
        `job ${id} has ended (${job.status}); its tasks cannot be cancelled`,
        'JOB_ENDED',
        {
          details: { status: job.status },
        },
      );
    }
    const stage = stageOf(job);
    if (!stage || !TASKS_ON_BATCH.includes(stage)) {
      throw new AppError(
        'TASK_NOT_SUBMITTED',
        `job ${id} is ${job.status}: its tasks are not on Batch yet; try again once it is QUEUED`,
        409,
        'backoff',
        { retryAfterMs: 5000, details: { status: job.status } },
      );
    }
    return signals.cancelTask(job, parsedTaskId, caller.owner, raise);
  }
}

import { ValidationError } from '../errors.js';
import { expandJob, type ExpandedJob } from '../domain/expand.js';
import type { JobSpec, SpecLimits, TemplateBody } from '../domain/jobSpec.js';
import type { JobStore } from '../store/jobStore.js';
import { isFinal } from '../domain/lifecycle.js';
import type { DoneTasks } from '../domain/resume.js';
import type { Preset } from '../domain/presets.js';

/** What expanding a job needs besides its spec: where its files go, the defaults, the limits. */
export interface ExpansionSettings {
  store: Pick<JobStore, 'getTemplate' | 'getJob' | 'getSpec' | 'listTasks'>;
  defaultPool: string;
  defaultLogsContainer: string;
  limits: SpecLimits;
  /** The deployment's resource presets, by name. */
  presets?: ReadonlyMap<string, Preset>;
}

/**
 * Expands a job's spec as its owner: looks up the template it names (one the owner may use) and
 * applies it, sweeps and macros. The same expansion at submission and when the job runs, so a job
 * runs exactly what it was accepted as.
 *
 * @throws ValidationError naming `template` when the owner has no such template, or the
 *   expansion's own field problems.
 */
export async function expandSpec(
  settings: ExpansionSettings,
  spec: JobSpec,
  jobId: string,
  owner: string,
): Promise<ExpandedJob> {
  let template: { ref: string; body: TemplateBody } | undefined;
  if (spec.template) {
    const found = await settings.store.getTemplate(spec.template.name, spec.template.version, owner);
    if (!found) {
      throw new ValidationError('the job spec is invalid: 1 problem', [
        {
          path: 'template',
          message: `no template ${spec.template.name}@${spec.template.version} that you can use`,
        },
      ]);
    }
    template = { ref: `${found.name}@${found.version}`, body: found.body };
  }
  const resume = spec.resumeFrom
    ? { from: spec.resumeFrom, done: await doneTasks(settings.store, owner, spec.resumeFrom) }
    : undefined;
  return expandJob(spec, {
    ...(resume ? { resume } : {}),
    jobId,
    owner,
    defaultPool: settings.defaultPool,
    defaultLogsContainer: settings.defaultLogsContainer,
    limits: settings.limits,
    ...(settings.presets ? { presets: settings.presets } : {}),
    ...(template ? { template } : {}),
  });
}

// Each resubmission of a resubmission resumes from the one before: a chain this long is a loop.
const MAX_RESUME_CHAIN = 50;

const resumeProblem = (message: string) =>
  new ValidationError('the job spec is invalid: 1 problem', [{ path: 'resumeFrom', message }]);

/**
 * The tasks that succeeded in job `from` and in the jobs it resumed from, each with the job that
 * ran it (the newest, if several did). Every job of the chain must be the owner's and have ended:
 * its tasks then no longer change.
 */
async function doneTasks(
  store: Pick<JobStore, 'getJob' | 'getSpec' | 'listTasks'>,
  owner: string,
  from: string,
): Promise<DoneTasks> {
  const chain: string[] = [];
  for (let next: string | undefined = from; next !== undefined;) {
    const via = chain.length > 0 ? ` (which job ${chain.at(-1)} resumed from)` : '';
    if (chain.includes(next) || chain.length >= MAX_RESUME_CHAIN) {
      throw resumeProblem(`job ${next}${via} makes the chain of resumed jobs too long`);
    }
    const job = await store.getJob(next);
    // Someone else's job reads as missing, as everywhere else.
    if (!job || job.owner !== owner) throw resumeProblem(`there is no job ${next} of yours${via}`);
    if (!isFinal(job.status)) throw resumeProblem(`job ${next}${via} has not ended (${job.status})`);
    chain.push(next);
    next = (await store.getSpec(next)).resumeFrom;
  }
  const done = new Map<string, string>();
  for (const jobId of chain.reverse()) {
    let continuation: string | undefined;
    do {
      const page = await store.listTasks(jobId, {
        status: 'SUCCEEDED',
        limit: 1000,
        ...(continuation ? { continuation } : {}),
      });
      for (const task of page.items) done.set(task.id, jobId);
      continuation = page.continuation;
    } while (continuation);
  }
  return done;
}

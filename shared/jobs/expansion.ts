import { ValidationError } from '../errors.js';
import { expandJob, type ExpandedJob } from '../domain/expand.js';
import type { JobSpec, SpecLimits, TemplateBody } from '../domain/jobSpec.js';
import type { JobStore } from '../store/jobStore.js';

/** What expanding a job needs besides its spec: where its files go, the defaults, the limits. */
export interface ExpansionSettings {
  store: Pick<JobStore, 'getTemplate'>;
  /** The container holding each job's files under `<jobId>/`. */
  dataContainer: string;
  defaultPool: string;
  defaultLogsContainer: string;
  limits: SpecLimits;
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
  return expandJob(spec, {
    jobId,
    owner,
    inputDir: `blob://${settings.dataContainer}/${jobId}/inputs`,
    outputDir: `blob://${settings.dataContainer}/${jobId}/outputs`,
    defaultPool: settings.defaultPool,
    defaultLogsContainer: settings.defaultLogsContainer,
    limits: settings.limits,
    ...(template ? { template } : {}),
  });
}

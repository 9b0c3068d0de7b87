import type { JobSpec, TemplateBody } from './jobSpec.js';

/** A registered template version. */
export interface TemplateVersion {
  name: string;
  version: string;
  owner: string;
  body: TemplateBody;
  createdAt: string;
}

/** `name@version`. */
export function templateKey(name: string, version: string): string {
  return `${name}@${version}`;
}

/**
 * Applies a template to a submitted spec: every field the spec gives wins. Maps (`parameters`,
 * `env`, `tags`, `logs`) merge key by key, so a spec can change one parameter and keep the rest;
 * lists (`inputs`, `notifications`, `outputs.patterns`) and scalars are replaced whole, because
 * merging lists silently would make it impossible to drop an entry. A spec with `tasks` or
 * `sweep` replaces both of the template's.
 */
export function applyTemplate(template: TemplateBody, spec: JobSpec): JobSpec {
  const merged: JobSpec = { ...template, ...stripUndefined(spec) };
  if (template.parameters || spec.parameters)
    merged.parameters = { ...template.parameters, ...spec.parameters };
  if (template.env || spec.env) merged.env = { ...template.env, ...spec.env };
  if (template.tags || spec.tags) merged.tags = { ...template.tags, ...spec.tags };
  if (template.logs || spec.logs) merged.logs = { ...template.logs, ...stripUndefined(spec.logs ?? {}) };
  if (spec.tasks || spec.sweep) {
    delete merged.tasks;
    delete merged.sweep;
    if (spec.tasks) merged.tasks = spec.tasks;
    if (spec.sweep) merged.sweep = spec.sweep;
  }
  return merged;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

import type { z } from 'zod';
import { ValidationError } from '../errors.js';

/** One problem with an input, at a path such as `tasks[3].dependsOn[0]`. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Formats a path of keys and indexes as `a.b[2].c`. */
export function formatPath(path: ReadonlyArray<PropertyKey>, prefix = ''): string {
  let text = prefix;
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text ? `.${String(key)}` : String(key);
  }
  return text;
}

type Issue = z.core.$ZodIssue;

function flatten(issue: Issue, base: PropertyKey[]): Array<{ path: PropertyKey[]; issue: Issue }> {
  const path = [...base, ...issue.path];
  if (issue.code === 'invalid_key' && issue.issues.length > 0) {
    // A bad record key: say what is wrong with the key, at the key's own path.
    return issue.issues.map((inner) => ({ path, issue: inner }));
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // Report the branch the input came closest to, not "Invalid input": a user who wrote an input
    // with a `source` wants to hear what is wrong with it as a source.
    const branches = issue.errors.map((branch) => branch.flatMap((inner) => flatten(inner, path)));
    const best = branches.reduce((a, b) => (score(b) < score(a) ? b : a));
    if (best.length > 0) return best;
  }
  return [{ path, issue }];
}

/** Fewer issues, and fewer about unknown keys or wrong top-level types, is a closer branch. */
function score(branch: Array<{ issue: Issue }>): number {
  return branch.reduce(
    (total, { issue }) =>
      total + (issue.code === 'unrecognized_keys' ? 10 : issue.code === 'invalid_type' ? 5 : 1),
    0,
  );
}

function describe(issue: Issue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${k}"`).join(', ');
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${keys}`;
  }
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) return 'is required';
  return issue.message;
}

/** Turns a zod error into field issues, each naming its field; unknown keys are named one by one. */
export function zodIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const { path, issue } of error.issues.flatMap((issue) => flatten(issue, []))) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ path: formatPath([...path, key], prefix), message: 'is not a known field' });
      }
      continue;
    }
    out.push({ path: formatPath(path, prefix), message: describe(issue) });
  }
  return out;
}

/** Parses input with a schema, or throws a ValidationError naming every bad field under `prefix`. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, prefix = ''): z.infer<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = zodIssues(parsed.error, prefix);
  throw new ValidationError(
    `the request is invalid: ${issues.length} problem${issues.length === 1 ? '' : 's'}`,
    issues,
  );
}

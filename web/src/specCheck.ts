import type { Schema, Validator } from '@cfworker/json-schema';
import { parseDocument } from 'yaml';

/** One thing wrong with a spec: where (as the API names fields, and the line), and why. */
export interface FieldIssue {
  path: string;
  line?: number;
  message: string;
}

let validator: Promise<Validator | undefined> | undefined;

/**
 * The job spec's JSON Schema, from the service's own OpenAPI document: the same schema the API
 * validates submissions with, so the page never checks against a copy of its own. Interpreted,
 * not compiled to code, so the site's Content-Security-Policy needs no `unsafe-eval`.
 */
export function specValidator(): Promise<Validator | undefined> {
  validator ??= (async () => {
    const response = await fetch(`${window.location.origin}/api/openapi.json`);
    if (!response.ok) return undefined;
    const document = (await response.json()) as {
      paths?: Record<string, { post?: { requestBody?: { content?: Record<string, { schema?: Schema }> } } }>;
    };
    const schema = document.paths?.['/jobs']?.post?.requestBody?.content?.['application/json']?.schema;
    if (!schema) return undefined;
    // Loaded with the schema, on the page that checks specs, not with every page.
    const { Validator } = await import('@cfworker/json-schema');
    return new Validator(schema, '2020-12', false);
  })().catch(() => undefined);
  return validator;
}

/** Keywords that only say a part below them failed: the part itself is reported. */
const CONTAINERS = new Set([
  'properties',
  'items',
  'prefixItems',
  'allOf',
  '$ref',
  'additionalProperties',
  'unevaluatedProperties',
]);

/** `#/tasks/0/dependsOn` as the API writes it: `tasks[0].dependsOn`. */
function fieldPath(pointer: string[]): string {
  return pointer.map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
}

const pointerParts = (location: string): string[] =>
  location
    .replace(/^#\/?/, '')
    .split('/')
    .filter((p) => p !== '')
    .map((p) => decodeURIComponent(p).replaceAll('~1', '/').replaceAll('~0', '~'));

/**
 * What the schema finds wrong with `spec`, each at its field and the line of `text` it is on
 * (`text` is the YAML or JSON it was read from), top to bottom.
 */
export function specIssues(check: Validator, spec: unknown, text: string): FieldIssue[] {
  const result = check.validate(spec);
  if (result.valid) return [];
  const document = parseDocument(text);
  const seen = new Set<string>();
  const issues: FieldIssue[] = [];
  for (const error of result.errors) {
    if (CONTAINERS.has(error.keyword)) continue;
    const parts = pointerParts(error.instanceLocation);
    const missing = error.keyword === 'required' ? /property "([^"]+)"/.exec(error.error)?.[1] : undefined;
    if (missing) parts.push(missing);
    const path = fieldPath(parts);
    const message = describe(error.keyword, error.error);
    const key = `${path}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const node = document.getIn(
      parts.map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
      true,
    ) as { range?: [number, number, number] } | undefined;
    const at = node?.range?.[0];
    issues.push({
      path,
      message,
      ...(at !== undefined ? { line: text.slice(0, at).split('\n').length } : {}),
    });
  }
  // In the order a reader meets them in the text.
  return issues.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
}

/** The validator's words, as a person filling in a form would want them. */
function describe(keyword: string, error: string): string {
  switch (keyword) {
    case 'false':
      return 'is not a field here';
    case 'required':
      return 'is required';
    case 'type': {
      const expected = /Expected "([^"]+)"/.exec(error)?.[1];
      return expected ? `must be ${/^[aeiou]/.test(expected) ? 'an' : 'a'} ${expected}` : error;
    }
    default:
      return error.replace(/^Instance /, '').replace(/\.$/, '');
  }
}

/**
 * ASP.NET Core route templates, as the Functions host interprets an HTTP trigger's `route`:
 * literal segments (case-insensitive), `{name}`, `{name?}`, `{name=default}`, catch-alls
 * `{*rest}` / `{**rest}`, complex segments such as `{file}.{ext}`, and inline constraints
 * `{id:int}`, `{id:min(1):max(9)}`, `{slug:regex(^[a-z]+$)}`.
 */

type Constraint = (value: string) => boolean;

interface ParameterPart {
  kind: 'parameter';
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue?: string;
  constraints: Constraint[];
  constraintText: string[];
}

interface LiteralPart {
  kind: 'literal';
  text: string;
}

type Part = ParameterPart | LiteralPart;

export interface RouteMatch {
  params: Record<string, string>;
}

const GUID =
  /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$|^\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)$/i;
const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function numberArg(name: string, args: string[], index: number): number {
  const value = Number(args[index]);
  if (args[index] === undefined || Number.isNaN(value)) {
    throw new Error(`route constraint "${name}" needs a numeric argument`);
  }
  return value;
}

function buildConstraint(text: string): Constraint {
  const match = /^([a-zA-Z]+)(?:\((.*)\))?$/s.exec(text);
  if (!match) throw new Error(`"${text}" is not a route constraint`);
  const name = match[1]!.toLowerCase();
  const rawArgs = match[2];
  const args =
    rawArgs === undefined ? [] : name === 'regex' ? [rawArgs] : rawArgs.split(',').map((a) => a.trim());
  switch (name) {
    case 'int':
      return (v) => INTEGER.test(v) && Math.abs(Number(v)) <= 2 ** 31;
    case 'long':
      return (v) => INTEGER.test(v) && Number.isSafeInteger(Number(v));
    case 'bool':
      return (v) => /^(true|false)$/i.test(v);
    case 'guid':
      return (v) => GUID.test(v);
    case 'decimal':
    case 'double':
    case 'float':
      return (v) => DECIMAL.test(v);
    case 'datetime':
      return (v) => !Number.isNaN(Date.parse(v));
    case 'alpha':
      return (v) => /^[a-z]+$/i.test(v);
    case 'required':
      return (v) => v.length > 0;
    case 'minlength': {
      const min = numberArg(name, args, 0);
      return (v) => v.length >= min;
    }
    case 'maxlength': {
      const max = numberArg(name, args, 0);
      return (v) => v.length <= max;
    }
    case 'length': {
      const min = numberArg(name, args, 0);
      const max = args.length > 1 ? numberArg(name, args, 1) : min;
      return (v) => v.length >= min && v.length <= max;
    }
    case 'min': {
      const min = numberArg(name, args, 0);
      return (v) => INTEGER.test(v) && Number(v) >= min;
    }
    case 'max': {
      const max = numberArg(name, args, 0);
      return (v) => INTEGER.test(v) && Number(v) <= max;
    }
    case 'range': {
      const min = numberArg(name, args, 0);
      const max = numberArg(name, args, 1);
      return (v) => INTEGER.test(v) && Number(v) >= min && Number(v) <= max;
    }
    case 'regex': {
      const regex = new RegExp(args[0] ?? '', 'i');
      return (v) => regex.test(v);
    }
    default:
      throw new Error(`unknown route constraint "${name}"`);
  }
}

/** Splits `name:c1:c2(x:y)=default?` into its pieces, respecting parentheses in constraint args. */
function parseParameter(body: string): ParameterPart {
  let text = body;
  let catchAll = false;
  if (text.startsWith('**')) {
    catchAll = true;
    text = text.slice(2);
  } else if (text.startsWith('*')) {
    catchAll = true;
    text = text.slice(1);
  }
  const pieces: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ':' && depth === 0) {
      pieces.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  pieces.push(current);
  let last = pieces[pieces.length - 1]!;
  let optional = false;
  let defaultValue: string | undefined;
  if (last.endsWith('?') && !last.endsWith('\\?')) {
    optional = true;
    last = last.slice(0, -1);
  }
  const eq = depthAwareIndexOf(last, '=');
  if (eq >= 0) {
    defaultValue = last.slice(eq + 1);
    last = last.slice(0, eq);
  }
  pieces[pieces.length - 1] = last;
  const name = pieces[0]!.trim();
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new Error(`"${name}" is not a valid route parameter name`);
  const constraintText = pieces.slice(1).filter((c) => c.length > 0);
  return {
    kind: 'parameter',
    name,
    optional,
    catchAll,
    constraints: constraintText.map(buildConstraint),
    constraintText,
    ...(defaultValue !== undefined ? { defaultValue } : {}),
  };
}

function depthAwareIndexOf(text: string, needle: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === needle && depth === 0) return i;
  }
  return -1;
}

function parseSegment(segment: string): Part[] {
  const parts: Part[] = [];
  let i = 0;
  let literal = '';
  while (i < segment.length) {
    const ch = segment[i]!;
    if (ch === '{' && segment[i + 1] === '{') {
      literal += '{';
      i += 2;
    } else if (ch === '}' && segment[i + 1] === '}') {
      literal += '}';
      i += 2;
    } else if (ch === '{') {
      if (literal) parts.push({ kind: 'literal', text: literal });
      literal = '';
      let depth = 0;
      let j = i + 1;
      for (; j < segment.length; j++) {
        const c = segment[j];
        if (c === '(') depth++;
        else if (c === ')') depth--;
        else if (c === '}' && depth === 0) break;
      }
      if (j >= segment.length) throw new Error(`unclosed "{" in route segment "${segment}"`);
      parts.push(parseParameter(segment.slice(i + 1, j)));
      i = j + 1;
    } else if (ch === '}') {
      throw new Error(`unexpected "}" in route segment "${segment}"`);
    } else {
      literal += ch;
      i++;
    }
  }
  if (literal) parts.push({ kind: 'literal', text: literal });
  return parts;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A compiled route template. */
export class RouteTemplate {
  readonly template: string;
  /** Lower sorts first: literal segments beat constrained parameters beat plain ones beat catch-alls. */
  readonly precedence: number[];
  readonly #regex: RegExp;
  readonly #parameters: ParameterPart[];

  constructor(template: string) {
    this.template = template.replace(/^\/+|\/+$/g, '');
    const segments = this.template === '' ? [] : this.template.split('/');
    const parsed = segments.map(parseSegment);
    this.#parameters = parsed.flat().filter((p): p is ParameterPart => p.kind === 'parameter');
    const names = new Set<string>();
    for (const p of this.#parameters) {
      const key = p.name.toLowerCase();
      if (names.has(key)) throw new Error(`route "${template}" uses parameter "${p.name}" twice`);
      names.add(key);
    }
    parsed.forEach((parts, index) => {
      if (parts.some((p) => p.kind === 'parameter' && p.catchAll) && index !== parsed.length - 1) {
        throw new Error(`a catch-all parameter must be the last segment of route "${template}"`);
      }
      if (parts.length > 1 && parts.some((p) => p.kind === 'parameter' && p.catchAll)) {
        throw new Error(`a catch-all parameter cannot share a segment in route "${template}"`);
      }
    });

    this.precedence = parsed.map((parts) => {
      if (parts.length > 1) return 2;
      const part = parts[0];
      if (!part || part.kind === 'literal') return 1;
      if (part.catchAll) return 5;
      return part.constraints.length > 0 ? 3 : 4;
    });

    let pattern = '^';
    parsed.forEach((parts, index) => {
      const single = parts.length === 1 ? parts[0] : undefined;
      const segmentOptional =
        single?.kind === 'parameter' &&
        (single.optional || single.catchAll || single.defaultValue !== undefined);
      let body = '';
      parts.forEach((part) => {
        if (part.kind === 'literal') {
          body += escapeRegex(part.text);
        } else {
          const group = `p${this.#parameters.indexOf(part)}`;
          // Greedy parameters leave the shortest match to the last one, as ASP.NET matches
          // complex segments from the right: {name}.{ext} takes "a.b.pdf" as "a.b" and "pdf".
          const inner = part.catchAll ? `(?<${group}>.*)` : `(?<${group}>[^/]+)`;
          body += part.optional && parts.length > 1 ? `(?:${inner})?` : inner;
        }
      });
      const separator = index === 0 ? '' : '/';
      pattern += segmentOptional ? `(?:${separator}${body})?` : `${separator}${body}`;
    });
    pattern += '/?$';
    this.#regex = new RegExp(pattern, 'i');
  }

  get parameterNames(): string[] {
    return this.#parameters.map((p) => p.name);
  }

  /** Matches a path (without the leading slash or query), decoding each parameter value. */
  match(path: string): RouteMatch | undefined {
    const match = this.#regex.exec(path.replace(/^\/+/, ''));
    if (!match) return undefined;
    const params: Record<string, string> = {};
    for (const [index, part] of this.#parameters.entries()) {
      const raw = match.groups?.[`p${index}`];
      let value: string | undefined;
      if (raw !== undefined && raw !== '') {
        try {
          value = part.catchAll ? raw.split('/').map(decodeURIComponent).join('/') : decodeURIComponent(raw);
        } catch {
          return undefined;
        }
      } else {
        value = part.defaultValue;
      }
      if (value === undefined) {
        if (part.optional || part.catchAll) continue;
        return undefined;
      }
      if (!part.constraints.every((check) => check(value))) return undefined;
      params[part.name] = value;
    }
    return { params };
  }
}

/** Orders templates the way ASP.NET routing tries them. */
export function compareRoutes(a: RouteTemplate, b: RouteTemplate): number {
  const length = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < length; i++) {
    const x = a.precedence[i] ?? 0;
    const y = b.precedence[i] ?? 0;
    if (x !== y) return x - y;
  }
  return a.template.localeCompare(b.template);
}

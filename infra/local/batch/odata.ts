import { BatchServiceError } from './errors.js';

type Value = string | number | boolean;
type Predicate = (item: Record<string, unknown>) => boolean;

function invalidFilter(filter: string, reason: string): BatchServiceError {
  return new BatchServiceError(
    400,
    'InvalidQueryParameterValue',
    'Value for one of the query parameters specified in the request URI is invalid.',
    [
      { key: 'QueryParameterName', value: '$filter' },
      { key: 'QueryParameterValue', value: filter },
      { key: 'Reason', value: reason },
    ],
  );
}

function lookup(item: Record<string, unknown>, path: string): unknown {
  let current: unknown = item;
  for (const part of path.split('/')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

const TOKEN = /\s*(\(|\)|'(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_/]*|-?\d+(?:\.\d+)?)/y;

/**
 * The part of Batch's OData `$filter` that list operations use: comparisons (`eq`, `ne`, `gt`,
 * `ge`, `lt`, `le`) of a property path with a literal, joined by `and` / `or`, with parentheses.
 */
export function parseFilter(filter: string): Predicate {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < filter.length) {
    const start = TOKEN.lastIndex;
    const match = TOKEN.exec(filter);
    if (!match) {
      if (filter.slice(start).trim() === '') break;
      throw invalidFilter(filter, `unexpected text at position ${start}`);
    }
    tokens.push(match[1]!);
  }
  let position = 0;
  const peek = () => tokens[position];
  const next = () => tokens[position++];

  const literal = (token: string | undefined): Value => {
    if (token === undefined) throw invalidFilter(filter, 'a comparison is missing its value');
    if (token.startsWith("'")) return token.slice(1, -1).replace(/''/g, "'");
    if (token === 'true' || token === 'false') return token === 'true';
    if (/^-?\d/.test(token)) return Number(token);
    throw invalidFilter(filter, `"${token}" is not a value`);
  };

  const comparison = (): Predicate => {
    const token = next();
    if (token === '(') {
      const inner = or();
      if (next() !== ')') throw invalidFilter(filter, 'a parenthesis is not closed');
      return inner;
    }
    if (!token || !/^[A-Za-z_]/.test(token)) throw invalidFilter(filter, 'expected a property name');
    const operator = next();
    const value = literal(next());
    const compare = (a: unknown): number | undefined => {
      if (a === undefined || a === null) return undefined;
      if (typeof value === 'number') return Number(a) - value;
      const left = (
        typeof a === 'object' ? JSON.stringify(a) : `${a as string | number | boolean}`
      ).toLowerCase();
      const right = String(value).toLowerCase();
      return left < right ? -1 : left > right ? 1 : 0;
    };
    switch (operator) {
      case 'eq':
        return (item) => compare(lookup(item, token)) === 0;
      case 'ne':
        return (item) => compare(lookup(item, token)) !== 0;
      case 'gt':
        return (item) => (compare(lookup(item, token)) ?? -1) > 0;
      case 'ge':
        return (item) => (compare(lookup(item, token)) ?? -1) >= 0;
      case 'lt':
        return (item) => (compare(lookup(item, token)) ?? 1) < 0;
      case 'le':
        return (item) => (compare(lookup(item, token)) ?? 1) <= 0;
      default:
        throw invalidFilter(filter, `unsupported operator "${operator}"`);
    }
  };
  const and = (): Predicate => {
    let left = comparison();
    while (peek() === 'and') {
      next();
      const right = comparison();
      const l = left;
      left = (item) => l(item) && right(item);
    }
    return left;
  };
  const or = (): Predicate => {
    let left = and();
    while (peek() === 'or') {
      next();
      const right = and();
      const l = left;
      left = (item) => l(item) || right(item);
    }
    return left;
  };
  const predicate = or();
  if (position < tokens.length) throw invalidFilter(filter, `unexpected "${tokens[position]}"`);
  return predicate;
}

/** Keeps the `$select`ed top-level properties of an item. */
export function select(item: Record<string, unknown>, selection: string | null): Record<string, unknown> {
  if (!selection) return item;
  const names = selection
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return Object.fromEntries(names.filter((n) => n in item).map((n) => [n, item[n]]));
}

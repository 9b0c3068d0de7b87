import { createHash } from 'node:crypto';

/**
 * What an ARM deployment of a compiled Bicep template would create, worked out offline: the
 * template language's expressions evaluated with the given parameters, copy loops expanded,
 * conditions applied, and nested deployments (Bicep modules) followed, so a test can read the
 * resources and their properties as Azure would receive them. Values only Azure knows at
 * deployment (a resource's runtime properties, a principal id) are {@link Unknown}, carrying the
 * expression they came from. An ARM function this does not know is an error, never a guess.
 */

/** A value Azure knows only while deploying, e.g. `reference(...)` of a resource. */
export class Unknown {
  constructor(readonly text: string) {}
  toString(): string {
    return `<${this.text}>`;
  }
}

export type Value = string | number | boolean | null | Unknown | Lambda | Value[] | { [key: string]: Value };

interface Lambda {
  lambda: { params: string[]; body: Node };
}

/** One resource the deployment creates. */
export interface DeployedResource {
  type: string;
  name: string;
  apiVersion: string;
  /** The module path: the names of the nested deployments it sits in. */
  modules: string[];
  /** Every top-level field, evaluated (properties, identity, sku, kind, scope, tags, ...). */
  fields: Record<string, Value>;
  properties: Record<string, Value>;
}

export interface Deployment {
  resources: DeployedResource[];
  outputs: Record<string, Value>;
}

/** Where the deployment runs: what `subscription()`, `resourceGroup()` and `deployment()` answer. */
export interface DeploymentContext {
  subscriptionId: string;
  tenantId: string;
  location: string;
  deploymentName: string;
  resourceGroup?: string;
}

const DEFAULT_CONTEXT: DeploymentContext = {
  subscriptionId: '00000000-0000-0000-0000-00000000c10d',
  tenantId: '11111111-1111-1111-1111-11111111c10d',
  location: 'westeurope',
  deploymentName: 'main',
};

// ---------------------------------------------------------------------------------------------
// Expressions: `[func(args).prop[index]]`, strings in single quotes ('' escapes one).

type Node =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'call'; name: string; args: Node[] }
  | { kind: 'property'; target: Node; name: string }
  | { kind: 'index'; target: Node; index: Node };

class Parser {
  #at = 0;
  constructor(private readonly text: string) {}

  parse(): Node {
    const node = this.#expression();
    this.#space();
    if (this.#at !== this.text.length) this.#fail('unexpected text');
    return node;
  }

  #fail(why: string): never {
    throw new Error(`cannot parse ARM expression (${why} at ${this.#at}): ${this.text}`);
  }

  #space(): void {
    while (/\s/.test(this.text[this.#at] ?? '')) this.#at++;
  }

  #expression(): Node {
    this.#space();
    let node = this.#primary();
    for (;;) {
      this.#space();
      const next = this.text[this.#at];
      if (next === '.') {
        this.#at++;
        node = { kind: 'property', target: node, name: this.#identifier() };
      } else if (next === '[') {
        this.#at++;
        const index = this.#expression();
        this.#space();
        if (this.text[this.#at] !== ']') this.#fail('expected ]');
        this.#at++;
        node = { kind: 'index', target: node, index };
      } else {
        return node;
      }
    }
  }

  #primary(): Node {
    const next = this.text[this.#at];
    if (next === "'") return this.#string();
    if (next !== undefined && /[-\d]/.test(next)) {
      const match = /^-?\d+(\.\d+)?/.exec(this.text.slice(this.#at));
      if (!match) this.#fail('bad number');
      this.#at += match[0].length;
      return { kind: 'number', value: Number(match[0]) };
    }
    const name = this.#identifier();
    this.#space();
    if (this.text[this.#at] !== '(') this.#fail(`expected ( after ${name}`);
    this.#at++;
    const args: Node[] = [];
    this.#space();
    if (this.text[this.#at] === ')') {
      this.#at++;
      return { kind: 'call', name, args };
    }
    for (;;) {
      args.push(this.#expression());
      this.#space();
      const separator = this.text[this.#at++];
      if (separator === ')') return { kind: 'call', name, args };
      if (separator !== ',') this.#fail('expected , or )');
    }
  }

  #identifier(): string {
    const match = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(this.text.slice(this.#at));
    if (!match) this.#fail('expected a name');
    this.#at += match[0].length;
    return match[0];
  }

  #string(): Node {
    let value = '';
    this.#at++;
    for (;;) {
      const char = this.text[this.#at++];
      if (char === undefined) this.#fail('unterminated string');
      if (char === "'") {
        if (this.text[this.#at] === "'") {
          value += "'";
          this.#at++;
          continue;
        }
        return { kind: 'string', value };
      }
      value += char;
    }
  }
}

/** Whether a template string is an expression; `[[` escapes a literal bracket. */
const isExpression = (text: string) => text.startsWith('[') && text.endsWith(']') && !text.startsWith('[[');

// ---------------------------------------------------------------------------------------------
// Values.

const isUnknown = (value: unknown): value is Unknown => value instanceof Unknown;
const isObject = (value: unknown): value is Record<string, Value> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  !isUnknown(value) &&
  !isLambda(value);
const isLambda = (value: unknown): value is Lambda =>
  typeof value === 'object' && value !== null && 'lambda' in value;

function describe(value: Value): string {
  return isUnknown(value) ? value.toString() : JSON.stringify(value);
}

/** ARM's string(): .NET spellings of booleans, JSON for objects and arrays. */
function asString(value: Value): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  if (value === null) return '';
  return JSON.stringify(value);
}

function hash(parts: Value[]): Buffer {
  return createHash('sha256')
    .update(parts.map((part) => asString(part)).join('\u0000'))
    .digest();
}

/** Stable stand-ins for uniqueString and guid: the same inputs give the same output, as in ARM. */
function uniqueString(parts: Value[]): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = hash(parts);
  return Array.from({ length: 13 }, (_, i) => alphabet[bytes[i]! % 32]).join('');
}

function guid(parts: Value[]): string {
  const hex = hash(parts).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function equal(a: Value, b: Value): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
  return JSON.stringify(a) === JSON.stringify(b);
}

// ---------------------------------------------------------------------------------------------
// Templates.

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Template = {
  languageVersion?: string;
  parameters?: Record<string, { defaultValue?: Json; type?: string; nullable?: boolean }>;
  variables?: Record<string, Json>;
  resources?: Json[] | Record<string, Json>;
  outputs?: Record<string, { value?: Json; condition?: Json }>;
};

interface Scope {
  parameters: Record<string, Value>;
  variables: Record<string, Json>;
  variableValues: Map<string, Value>;
  copy: Map<string, number>;
  currentCopy?: string;
  lambdas: Map<string, Value>;
  context: DeploymentContext;
  /** reference('<symbolic name>') of a module: its outputs, evaluated on first use. */
  modules: Map<string, () => Record<string, Value>>;
  /** A resource id of a deployment to the symbolic name of its module (language version 1). */
  moduleIds: Map<string, string>;
  /** Resources by symbolic name (language version 2), to name what reference() cannot know. */
  symbols: Map<string, Record<string, Json>>;
}

/** Deploys `template` with `parameters` on paper. */
export function deployTemplate(
  template: unknown,
  parameters: Record<string, Value> = {},
  context: Partial<DeploymentContext> = {},
): Deployment {
  return evaluateTemplate(template as Template, parameters, { ...DEFAULT_CONTEXT, ...context }, []);
}

function evaluateTemplate(
  template: Template,
  given: Record<string, Value>,
  context: DeploymentContext,
  modules: string[],
): Deployment {
  const scope: Scope = {
    parameters: {},
    variables: template.variables ?? {},
    variableValues: new Map(),
    copy: new Map(),
    lambdas: new Map(),
    context,
    modules: new Map(),
    moduleIds: new Map(),
    symbols: new Map(),
  };
  for (const [name, declaration] of Object.entries(template.parameters ?? {})) {
    if (name in given) scope.parameters[name] = given[name]!;
    else if (declaration.defaultValue !== undefined)
      scope.parameters[name] = evaluateJson(declaration.defaultValue, scope);
    else if (declaration.nullable) scope.parameters[name] = null;
    else
      throw new Error(
        `parameter ${name} has no value and no default (module ${modules.join('/') || 'main'})`,
      );
  }
  const unknownParameters = Object.keys(given).filter((name) => !(name in (template.parameters ?? {})));
  if (unknownParameters.length > 0) {
    throw new Error(`the template takes no parameter ${unknownParameters.join(', ')}`);
  }

  const entries: Array<[string, Record<string, Json>]> = Array.isArray(template.resources)
    ? template.resources.map((resource, i) => [`#${i}`, resource as Record<string, Json>])
    : Object.entries((template.resources ?? {}) as Record<string, Record<string, Json>>);
  for (const [symbol, resource] of entries) scope.symbols.set(symbol, resource);
  const resources: DeployedResource[] = [];
  const nested = new Map<string, Deployment>();
  for (const [symbol, resource] of entries) {
    if (resource.type !== 'Microsoft.Resources/deployments' || resource.existing === true) continue;
    const name = evaluateJson(resource.name ?? '', scope);
    if (typeof name === 'string') {
      scope.moduleIds.set(resourceId(scope, ['Microsoft.Resources/deployments', name]).toLowerCase(), symbol);
    }
    scope.modules.set(symbol, () => {
      let deployment = nested.get(symbol);
      if (!deployment) {
        const instances = instancesOf(resource, scope);
        if (instances.length !== 1)
          throw new Error(`module ${symbol} is looped or not deployed: no one output`);
        deployment = deployModule(resource, instances[0]!, modules);
        nested.set(symbol, deployment);
      }
      return deployment.outputs;
    });
  }

  for (const [symbol, resource] of entries) {
    if (resource.existing === true) continue;
    for (const instance of instancesOf(resource, scope)) {
      if (resource.type === 'Microsoft.Resources/deployments') {
        const deployment =
          nested.get(symbol) && instancesOf(resource, scope).length === 1
            ? nested.get(symbol)!
            : deployModule(resource, instance, modules);
        nested.set(symbol, deployment);
        resources.push(...deployment.resources);
        continue;
      }
      const fields = Object.fromEntries(
        Object.entries(resource)
          .filter(([key]) => !['copy', 'condition', 'dependsOn', 'existing'].includes(key))
          .map(([key, value]) => [key, evaluateJson(value, instance)]),
      );
      resources.push({
        type: asString(fields.type ?? ''),
        name: asString(fields.name ?? ''),
        apiVersion: asString(fields.apiVersion ?? ''),
        modules,
        fields,
        properties: isObject(fields.properties) ? fields.properties : {},
      });
    }
  }

  const outputs: Record<string, Value> = {};
  for (const [name, output] of Object.entries(template.outputs ?? {})) {
    if (output.condition !== undefined && evaluateJson(output.condition, scope) !== true) continue;
    outputs[name] = evaluateJson(output.value ?? null, scope);
  }
  return { resources, outputs };
}

/** The scopes a resource is deployed in: one per copy iteration whose condition holds. */
function instancesOf(resource: Record<string, Json>, scope: Scope): Scope[] {
  const loop = resource.copy as { name?: string; count?: Json } | undefined;
  const scopes: Scope[] = [];
  const count = loop ? evaluateJson(loop.count ?? 0, scope) : 1;
  if (typeof count !== 'number') throw new Error(`copy count is not known: ${describe(count)}`);
  for (let i = 0; i < count; i++) {
    const instance: Scope = loop
      ? { ...scope, copy: new Map(scope.copy).set(loop.name ?? '', i), currentCopy: loop.name ?? '' }
      : scope;
    if (resource.condition !== undefined) {
      const condition = evaluateJson(resource.condition, instance);
      if (typeof condition !== 'boolean') {
        throw new Error(`condition of ${JSON.stringify(resource.name)} is not known: ${describe(condition)}`);
      }
      if (!condition) continue;
    }
    scopes.push(instance);
  }
  return scopes;
}

function deployModule(resource: Record<string, Json>, scope: Scope, modules: string[]): Deployment {
  const name = asString(evaluateJson(resource.name ?? '', scope));
  const properties = resource.properties as {
    template: Template;
    parameters?: Record<string, Json>;
    expressionEvaluationOptions?: { scope?: string };
  };
  if (properties.expressionEvaluationOptions?.scope !== 'inner') {
    throw new Error(`module ${name} uses outer expression scope, which this does not follow`);
  }
  // Each parameter is { value }, or an expression that makes one.
  const parameters = Object.fromEntries(
    Object.entries(properties.parameters ?? {}).map(([key, entry]) => {
      const evaluated = evaluateJson(entry, scope);
      if (!isObject(evaluated) || !('value' in evaluated)) {
        throw new Error(`module ${name} parameter ${key} is not a value: ${describe(evaluated)}`);
      }
      return [key, evaluated.value!];
    }),
  );
  const resourceGroup =
    resource.resourceGroup !== undefined
      ? asString(evaluateJson(resource.resourceGroup, scope))
      : scope.context.resourceGroup;
  return evaluateTemplate(
    properties.template,
    parameters,
    { ...scope.context, deploymentName: name, ...(resourceGroup ? { resourceGroup } : {}) },
    [...modules, name],
  );
}

/** Evaluates every expression in a template value, expanding property copy loops. */
function evaluateJson(value: Json, scope: Scope): Value {
  if (typeof value === 'string') {
    if (isExpression(value)) return evaluate(new Parser(value.slice(1, -1)).parse(), scope);
    return value.startsWith('[[') ? value.slice(1) : value;
  }
  if (Array.isArray(value)) return value.map((item) => evaluateJson(item, scope));
  if (value !== null && typeof value === 'object') {
    const result: Record<string, Value> = {};
    for (const [key, item] of Object.entries(value)) {
      if (key === 'copy' && Array.isArray(item)) {
        for (const loop of item as Array<{ name: string; count: Json; input: Json }>) {
          const count = evaluateJson(loop.count, scope);
          if (typeof count !== 'number') throw new Error(`copy count is not known: ${describe(count)}`);
          result[loop.name] = Array.from({ length: count }, (_, i) =>
            evaluateJson(loop.input, {
              ...scope,
              copy: new Map(scope.copy).set(loop.name, i),
              currentCopy: loop.name,
            }),
          );
        }
        continue;
      }
      // A property name may itself be an expression (an identity's resource id, say).
      const name = isExpression(key) ? asString(evaluateJson(key, scope)) : key;
      result[name] = evaluateJson(item, scope);
    }
    return result;
  }
  return value;
}

function variable(name: string, scope: Scope): Value {
  if (!scope.variableValues.has(name)) {
    if (name === 'copy' || !(name in scope.variables)) throw new Error(`no variable ${name}`);
    scope.variableValues.set(name, evaluateJson(scope.variables[name]!, scope));
  }
  return scope.variableValues.get(name)!;
}

function resourceId(scope: Scope, args: Value[]): string {
  const parts = args.map((arg) => asString(arg));
  // resourceId([subscriptionId], [resourceGroup], type, names...): the type is the first with a '/'.
  const typeAt = parts.findIndex((part) => part.includes('/'));
  if (typeAt < 0) throw new Error(`resourceId(${parts.join(', ')}) names no type`);
  const [namespace, ...types] = parts[typeAt]!.split('/');
  const names = parts.slice(typeAt + 1);
  const subscriptionId = typeAt === 2 ? parts[0]! : scope.context.subscriptionId;
  const group = typeAt >= 1 ? parts[typeAt - 1]! : scope.context.resourceGroup;
  const path = types.map((type, i) => `${type}/${names[i] ?? ''}`).join('/');
  return `/subscriptions/${subscriptionId}${group ? `/resourceGroups/${group}` : ''}/providers/${namespace}/${path}`;
}

function access(target: Value, key: Value, text: string): Value {
  if (isUnknown(target)) return new Unknown(`${target.text}${text}`);
  if (isUnknown(key)) return new Unknown(`${describe(target)}[${key.text}]`);
  if (Array.isArray(target) && typeof key === 'number') {
    if (key < 0 || key >= target.length) throw new Error(`index ${key} is outside ${describe(target)}`);
    return target[key]!;
  }
  if (isObject(target) && typeof key === 'string') {
    const found = Object.keys(target).find((name) => name.toLowerCase() === key.toLowerCase());
    if (found === undefined) throw new Error(`no property ${key} in ${describe(target)}`);
    return target[found]!;
  }
  throw new Error(`cannot read ${describe(key)} of ${describe(target)}`);
}

function evaluate(node: Node, scope: Scope): Value {
  switch (node.kind) {
    case 'string':
    case 'number':
      return node.value;
    case 'property':
      return access(evaluate(node.target, scope), node.name, `.${node.name}`);
    case 'index': {
      const index = evaluate(node.index, scope);
      return access(evaluate(node.target, scope), index, `[${describe(index)}]`);
    }
    case 'call':
      return call(node, scope);
  }
}

function call(node: Extract<Node, { kind: 'call' }>, scope: Scope): Value {
  const name = node.name.toLowerCase();
  // Lazily evaluated: ARM does not evaluate the branch it does not take.
  if (name === 'if') {
    const condition = evaluate(node.args[0]!, scope);
    if (typeof condition !== 'boolean')
      throw new Error(`if() on a condition not known: ${describe(condition)}`);
    return evaluate(node.args[condition ? 1 : 2]!, scope);
  }
  if (name === 'lambda') {
    const params = node.args.slice(0, -1).map((arg) => {
      if (arg.kind !== 'string') throw new Error('lambda parameters must be names');
      return arg.value;
    });
    return { lambda: { params, body: node.args[node.args.length - 1]! } };
  }
  const args = node.args.map((arg) => evaluate(arg, scope));
  const fn = FUNCTIONS[name];
  if (!fn) throw new Error(`the template evaluator does not know the ARM function ${node.name}()`);
  // A function of a value only Azure knows is itself known only to Azure, except where noted.
  if (!PASS_UNKNOWN.has(name) && args.some(isUnknown)) {
    return new Unknown(`${node.name}(${args.map(describe).join(', ')})`);
  }
  return fn(args, scope);
}

/** Functions that take an unknown argument in their stride. */
const PASS_UNKNOWN = new Set([
  'createobject',
  'createarray',
  'union',
  'coalesce',
  'parameters',
  'variables',
  'reference',
  'tryget',
  'lambdavariables',
  'map',
  'filter',
]);

function invoke(fn: Value, args: Value[], scope: Scope): Value {
  if (!isLambda(fn)) throw new Error(`not a lambda: ${describe(fn)}`);
  const lambdas = new Map(scope.lambdas);
  fn.lambda.params.forEach((param, i) => lambdas.set(param, args[i] ?? null));
  return evaluate(fn.lambda.body, { ...scope, lambdas });
}

const str = (value: Value | undefined) => asString(value ?? null);

const FUNCTIONS: Record<string, (args: Value[], scope: Scope) => Value> = {
  parameters: ([name], scope) => {
    const key = str(name);
    if (!(key in scope.parameters)) throw new Error(`no parameter ${key}`);
    return scope.parameters[key]!;
  },
  variables: ([name], scope) => variable(str(name), scope),
  lambdavariables: ([name], scope) => {
    if (!scope.lambdas.has(str(name))) throw new Error(`no lambda variable ${str(name)}`);
    return scope.lambdas.get(str(name))!;
  },
  copyindex: (args, scope) => {
    const named = typeof args[0] === 'string' ? args[0] : undefined;
    const offset = typeof args[0] === 'number' ? args[0] : typeof args[1] === 'number' ? args[1] : 0;
    const loop = named ?? scope.currentCopy;
    if (loop === undefined || !scope.copy.has(loop)) throw new Error(`copyIndex() outside the loop ${loop}`);
    return scope.copy.get(loop)! + offset;
  },
  reference: ([target], scope) => {
    if (isUnknown(target)) return new Unknown(`reference(${target.text})`);
    const key = str(target);
    const module = scope.modules.get(key) ?? scope.modules.get(scope.moduleIds.get(key.toLowerCase()) ?? '');
    if (module) {
      return {
        outputs: Object.fromEntries(Object.entries(module()).map(([name, value]) => [name, { value }])),
      };
    }
    // A resource's runtime state: named by its type and name, so the same resource is recognised
    // wherever it is referenced, whichever module does it.
    const resource = scope.symbols.get(key);
    if (resource) {
      const name = evaluateJson(resource.name ?? key, scope);
      return new Unknown(`reference(${str(resource.type)} ${isUnknown(name) ? key : str(name)})`);
    }
    return new Unknown(`reference(${key})`);
  },
  list: ([target]) => new Unknown(`list(${describe(target ?? null)})`),
  listkeys: ([target]) => new Unknown(`listKeys(${describe(target ?? null)})`),
  deployment: (_args, scope) => ({ name: scope.context.deploymentName, properties: {} }),
  subscription: (_args, scope) => ({
    id: `/subscriptions/${scope.context.subscriptionId}`,
    subscriptionId: scope.context.subscriptionId,
    tenantId: scope.context.tenantId,
  }),
  tenant: (_args, scope) => ({ tenantId: scope.context.tenantId }),
  resourcegroup: (_args, scope) => {
    const group = scope.context.resourceGroup;
    if (!group) throw new Error('resourceGroup() in a deployment at subscription scope');
    return {
      id: `/subscriptions/${scope.context.subscriptionId}/resourceGroups/${group}`,
      name: group,
      location: scope.context.location,
    };
  },
  environment: () => ({
    name: 'AzureCloud',
    authentication: { loginEndpoint: 'https://login.microsoftonline.com/' },
    resourceManager: 'https://management.azure.com/',
    suffixes: { storage: 'core.windows.net', keyvaultDns: '.vault.azure.net' },
  }),
  resourceid: (args, scope) => resourceId(scope, args),
  subscriptionresourceid: (args, scope) => {
    const parts = args.map((arg) => str(arg));
    const typeAt = parts.findIndex((part) => part.includes('/'));
    const [namespace, ...types] = parts[typeAt]!.split('/');
    const names = parts.slice(typeAt + 1);
    const subscriptionId = typeAt === 1 ? parts[0]! : scope.context.subscriptionId;
    return `/subscriptions/${subscriptionId}/providers/${namespace}/${types.map((t, i) => `${t}/${names[i]}`).join('/')}`;
  },
  extensionresourceid: ([scopeId, type, ...names]) => {
    const [namespace, ...types] = str(type).split('/');
    return `${str(scopeId)}/providers/${namespace}/${types.map((t, i) => `${t}/${str(names[i])}`).join('/')}`;
  },
  uniquestring: (args) => uniqueString(args),
  guid: (args) => guid(args),
  format: ([template, ...args]) =>
    str(template).replace(/\{\{|\}\}|\{(\d+)(?::[^}]*)?\}/g, (match, index?: string) =>
      match === '{{' ? '{' : match === '}}' ? '}' : str(args[Number(index)]),
    ),
  concat: (args) =>
    args.every((arg) => Array.isArray(arg))
      ? (args as Value[][]).flat(1)
      : args.map((arg) => str(arg)).join(''),
  string: ([value]) => str(value),
  int: ([value]) => Number.parseInt(str(value), 10),
  bool: ([value]) => (typeof value === 'boolean' ? value : str(value).toLowerCase() === 'true'),
  json: ([value]) => JSON.parse(str(value)) as Value,
  tolower: ([value]) => str(value).toLowerCase(),
  toupper: ([value]) => str(value).toUpperCase(),
  replace: ([value, from, to]) => str(value).split(str(from)).join(str(to)),
  split: ([value, separator]) => str(value).split(str(separator)),
  join: ([items, separator]) => (items as Value[]).map((item) => str(item)).join(str(separator)),
  take: ([value, count]) =>
    typeof value === 'string' ? value.slice(0, Number(count)) : (value as Value[]).slice(0, Number(count)),
  skip: ([value, count]) =>
    typeof value === 'string' ? value.slice(Number(count)) : (value as Value[]).slice(Number(count)),
  substring: ([value, start, length]) =>
    str(value).slice(Number(start), length === undefined ? undefined : Number(start) + Number(length)),
  startswith: ([value, prefix]) => str(value).toLowerCase().startsWith(str(prefix).toLowerCase()),
  endswith: ([value, suffix]) => str(value).toLowerCase().endsWith(str(suffix).toLowerCase()),
  first: ([value]) => (typeof value === 'string' ? value.slice(0, 1) : ((value as Value[])[0] ?? null)),
  last: ([value]) => (typeof value === 'string' ? value.slice(-1) : ((value as Value[]).at(-1) ?? null)),
  length: ([value]) =>
    typeof value === 'string' || Array.isArray(value) ? value.length : Object.keys(value as object).length,
  empty: ([value]) =>
    value === null ||
    value === '' ||
    (Array.isArray(value) && value.length === 0) ||
    (isObject(value) && Object.keys(value).length === 0),
  contains: ([container, item]) =>
    typeof container === 'string'
      ? container.includes(str(item))
      : Array.isArray(container)
        ? container.some((entry) => equal(entry, item ?? null))
        : Object.keys(container as object).some((key) => key.toLowerCase() === str(item).toLowerCase()),
  equals: ([a, b]) => equal(a ?? null, b ?? null),
  not: ([value]) => value !== true,
  and: (args) => args.every((arg) => arg === true),
  or: (args) => args.some((arg) => arg === true),
  true: () => true,
  false: () => false,
  null: () => null,
  greater: ([a, b]) => (a as number) > (b as number),
  greaterorequals: ([a, b]) => (a as number) >= (b as number),
  less: ([a, b]) => (a as number) < (b as number),
  lessorequals: ([a, b]) => (a as number) <= (b as number),
  add: ([a, b]) => (a as number) + (b as number),
  sub: ([a, b]) => (a as number) - (b as number),
  mul: ([a, b]) => (a as number) * (b as number),
  div: ([a, b]) => Math.trunc((a as number) / (b as number)),
  mod: ([a, b]) => (a as number) % (b as number),
  min: (args) => Math.min(...(args.flat() as number[])),
  max: (args) => Math.max(...(args.flat() as number[])),
  range: ([start, count]) => Array.from({ length: Number(count) }, (_, i) => Number(start) + i),
  coalesce: (args) => args.find((arg) => arg !== null) ?? null,
  createobject: (args) => {
    const result: Record<string, Value> = {};
    for (let i = 0; i < args.length; i += 2) result[str(args[i])] = args[i + 1] ?? null;
    return result;
  },
  createarray: (args) => args,
  union: (args) => {
    if (args.some(isUnknown)) return new Unknown(`union(${args.map(describe).join(', ')})`);
    if (args.every((arg) => Array.isArray(arg))) {
      const result: Value[] = [];
      for (const item of (args as Value[][]).flat(1)) {
        if (!result.some((seen) => equal(seen, item))) result.push(item);
      }
      return result;
    }
    return Object.assign({}, ...(args as Array<Record<string, Value>>)) as Record<string, Value>;
  },
  items: ([value]) =>
    Object.entries(value as Record<string, Value>).map(([key, item]) => ({ key, value: item })),
  objectkeys: ([value]) => Object.keys(value as object),
  tryget: ([value, ...keys]) => {
    let current: Value = value ?? null;
    for (const key of keys) {
      if (isUnknown(current)) return new Unknown(`${current.text}.${str(key)}`);
      if (Array.isArray(current) && typeof key === 'number') current = current[key] ?? null;
      else if (isObject(current)) {
        const found = Object.keys(current).find((name) => name.toLowerCase() === str(key).toLowerCase());
        current = found === undefined ? null : current[found]!;
      } else return null;
    }
    return current;
  },
  map: ([items, fn], scope) =>
    isUnknown(items)
      ? new Unknown(`map(${items.text})`)
      : (items as Value[]).map((item, i) => invoke(fn!, [item, i], scope)),
  filter: ([items, fn], scope) =>
    isUnknown(items)
      ? new Unknown(`filter(${items.text})`)
      : (items as Value[]).filter((item, i) => invoke(fn!, [item, i], scope) === true),
};

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

const advancedFilterSchema = z.object({
  operatorType: z.enum([
    'StringIn',
    'StringNotIn',
    'StringBeginsWith',
    'StringEndsWith',
    'StringContains',
    'NumberGreaterThan',
    'NumberGreaterThanOrEquals',
    'NumberLessThan',
    'NumberLessThanOrEquals',
    'NumberIn',
    'NumberNotIn',
    'BoolEquals',
    'IsNullOrUndefined',
    'IsNotNull',
  ]),
  key: z.string().min(1),
  values: z.array(z.union([z.string(), z.number()])).optional(),
  value: z.union([z.string(), z.number(), z.boolean()]).optional(),
});

export type AdvancedFilter = z.infer<typeof advancedFilterSchema>;

/**
 * One event subscription, with the properties of an ARM
 * `Microsoft.EventGrid/systemTopics/eventSubscriptions` resource that matter for delivery to a
 * function, so the file mirrors what the Azure deployment subscribes.
 */
const subscriptionSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9-]{3,64}$/, '3-64 letters, digits and hyphens'),
  destination: z.object({
    endpointType: z.literal('AzureFunction').default('AzureFunction'),
    functionName: z.string().min(1),
  }),
  filter: z
    .object({
      includedEventTypes: z.array(z.string()).optional(),
      subjectBeginsWith: z.string().optional(),
      subjectEndsWith: z.string().optional(),
      isSubjectCaseSensitive: z.boolean().optional(),
      advancedFilters: z.array(advancedFilterSchema).optional(),
    })
    .default({}),
  retryPolicy: z
    .object({
      maxDeliveryAttempts: z.number().int().min(1).max(30).default(30),
      eventTimeToLiveInMinutes: z.number().int().min(1).max(1440).default(1440),
    })
    .default({ maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }),
  deadLetterDestination: z.object({ containerName: z.string().min(3) }).optional(),
});

export type Subscription = z.infer<typeof subscriptionSchema>;

const fileSchema = z.object({ $schema: z.string().optional(), subscriptions: z.array(subscriptionSchema) });

export const EVENT_GRID_FILE = path.join('infra', 'local', 'eventgrid.json');

export async function loadSubscriptions(appDir: string): Promise<Subscription[]> {
  const file = path.join(appDir, EVENT_GRID_FILE);
  if (!existsSync(file)) return [];
  const parsed = fileSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(
      `${file} is invalid:\n` +
        parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n'),
    );
  }
  const names = new Set<string>();
  for (const subscription of parsed.data.subscriptions) {
    const key = subscription.name.toLowerCase();
    if (names.has(key)) throw new Error(`${file}: subscription "${subscription.name}" is declared twice`);
    names.add(key);
  }
  return parsed.data.subscriptions;
}

function lookup(event: object, key: string): unknown {
  let current: unknown = event;
  for (const part of key.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function passes(filter: AdvancedFilter, event: object): boolean {
  const value = lookup(event, filter.key);
  const values = filter.values ?? [];
  const text = typeof value === 'string' ? value.toLowerCase() : undefined;
  const strings = values.map((v) => String(v).toLowerCase());
  const number = typeof value === 'number' ? value : undefined;
  const threshold = Number(filter.value);
  switch (filter.operatorType) {
    case 'StringIn':
      return text !== undefined && strings.includes(text);
    case 'StringNotIn':
      return text === undefined || !strings.includes(text);
    case 'StringBeginsWith':
      return text !== undefined && strings.some((s) => text.startsWith(s));
    case 'StringEndsWith':
      return text !== undefined && strings.some((s) => text.endsWith(s));
    case 'StringContains':
      return text !== undefined && strings.some((s) => text.includes(s));
    case 'NumberGreaterThan':
      return number !== undefined && number > threshold;
    case 'NumberGreaterThanOrEquals':
      return number !== undefined && number >= threshold;
    case 'NumberLessThan':
      return number !== undefined && number < threshold;
    case 'NumberLessThanOrEquals':
      return number !== undefined && number <= threshold;
    case 'NumberIn':
      return number !== undefined && values.map(Number).includes(number);
    case 'NumberNotIn':
      return number === undefined || !values.map(Number).includes(number);
    case 'BoolEquals':
      return value === filter.value;
    case 'IsNullOrUndefined':
      return value === null || value === undefined;
    case 'IsNotNull':
      return value !== null && value !== undefined;
  }
}

/** Whether an event passes a subscription's filter, with Event Grid's matching rules. */
export function matches(
  subscription: Subscription,
  event: { eventType: string; subject: string; data?: unknown },
): boolean {
  const filter = subscription.filter;
  const types = filter.includedEventTypes;
  if (types && types.length > 0 && !types.some((t) => t.toLowerCase() === event.eventType.toLowerCase()))
    return false;
  const sensitive = filter.isSubjectCaseSensitive ?? false;
  const subject = sensitive ? event.subject : event.subject.toLowerCase();
  const norm = (s: string) => (sensitive ? s : s.toLowerCase());
  if (filter.subjectBeginsWith && !subject.startsWith(norm(filter.subjectBeginsWith))) return false;
  if (filter.subjectEndsWith && !subject.endsWith(norm(filter.subjectEndsWith))) return false;
  return (filter.advancedFilters ?? []).every((f) => passes(f, event));
}

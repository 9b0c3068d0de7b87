import { createHash } from 'node:crypto';
import type { TableClient, TableEntityResult } from '@azure/data-tables';
import { ValidationError } from '../errors.js';
import { FINAL_STATUSES } from '../domain/lifecycle.js';
import type { JobListOptions, Page } from '../store/jobStore.js';
import { isStatus, odata, type Entity } from './tables.js';

/** A time as a fixed-width count that sorts newest first, for row keys. */
export const invertedTime = (iso: string): string =>
  String(8_640_000_000_000_000 - Date.parse(iso)).padStart(16, '0');

/** A job's row key in its owner's partition: newest first, then by id. */
export const jobRowKey = (createdAt: string, id: string): string => `job|${invertedTime(createdAt)}|${id}`;

/**
 * Tags are also kept one property each, so a listing can filter on one in the query. Tag keys may
 * hold any character and property names may not, so the property is named by the key's hash.
 */
const tagProperty = (key: string) => `Tag_${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;

/** The per-tag properties of a job row. */
export const tagProperties = (tags: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(tags).map(([key, value]) => [tagProperty(key), value]));

/** The table query for an owner's jobs narrowed by `options`. */
export function jobListFilter(
  owner: string,
  options: Omit<JobListOptions, 'limit' | 'continuation' | 'sort'>,
): string {
  // Row keys hold the inverted submission time, so a date range is a row-key range.
  const newest = options.createdBefore ? `job|${invertedTime(options.createdBefore)}}` : 'job|';
  const oldest = options.createdAfter ? `job|${invertedTime(options.createdAfter)}}` : 'job}';
  const filters = [
    `PartitionKey eq ${odata(owner)}`,
    `RowKey ge ${odata(newest)}`,
    `RowKey lt ${odata(oldest)}`,
  ];
  if (options.status) filters.push(`Status eq ${odata(options.status)}`);
  if (options.name) filters.push(`Name eq ${odata(options.name)}`);
  if (options.tag) {
    // A row without the property fails any comparison, so `ge ''` asks only that the tag is there.
    const { key, value } = options.tag;
    filters.push(`${tagProperty(key)} ${value === undefined ? "ge ''" : `eq ${odata(value)}`}`);
  }
  return filters.join(' and ');
}

/** Where a priority-ordered page ends: the last job's priority and row key. */
interface PriorityCursor {
  p: number;
  k: string;
}

const invalidContinuation = () =>
  new ValidationError('the continuation token is not valid', [
    { path: 'continuation', message: 'is not a token this API returned for this order' },
  ]);

function decodeCursor(value: string | undefined): PriorityCursor | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<PriorityCursor>;
    if (Number.isInteger(parsed.p) && typeof parsed.k === 'string' && parsed.k.startsWith('job|')) {
      return { p: parsed.p!, k: parsed.k };
    }
  } catch {
    // falls through to the error below
  }
  throw invalidContinuation();
}

/** Highest priority first; among equals, the row-key order (newest first). */
const byPriority = (a: PriorityCursor, b: PriorityCursor) =>
  b.p - a.p || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0);

/**
 * One page of an owner's jobs, highest priority first. Tables keep rows in key order only, so the
 * keys and priorities of every job matching the filter are read (two properties a row), sorted,
 * and the page's rows read one by one. The continuation is the last job's place in that order, so
 * a job submitted or reprioritised between pages lands where it now belongs.
 */
export async function priorityPage<T>(
  table: TableClient,
  owner: string,
  options: Omit<JobListOptions, 'sort'>,
  select: string[],
  map: (entity: TableEntityResult<Entity>) => T,
): Promise<Page<T>> {
  const after = decodeCursor(options.continuation);
  const keys: PriorityCursor[] = [];
  const rows = table.listEntities<Entity>({
    queryOptions: { filter: jobListFilter(owner, options), select: ['RowKey', 'Priority'] },
  });
  for await (const row of rows) {
    // Rows stored before priorities existed have none: they ran at the default.
    const key = { p: typeof row.Priority === 'number' ? row.Priority : 0, k: row.rowKey };
    if (!after || byPriority(after, key) < 0) keys.push(key);
  }
  keys.sort(byPriority);
  const page = keys.slice(0, options.limit);
  const entities = await Promise.all(
    page.map(async ({ k }) => {
      try {
        return await table.getEntity<Entity>(owner, k, { queryOptions: { select } });
      } catch (error) {
        // Deleted since its key was read: the page is one shorter, not an error.
        if (isStatus(error, 404)) return undefined;
        throw error;
      }
    }),
  );
  const result: Page<T> = {
    items: entities.filter((entity) => entity !== undefined).map(map),
  };
  const last = page.at(-1);
  if (keys.length > page.length && last) {
    result.continuation = Buffer.from(JSON.stringify(last)).toString('base64url');
  }
  return result;
}

/**
 * Jobs of every owner that ended before `cutoff`, at most `limit`: a scan across partitions,
 * reading two properties of each job row (retention runs it once an hour).
 */
export async function endedBefore(
  jobs: TableClient,
  cutoff: string,
  limit: number,
): Promise<Array<{ id: string; owner: string }>> {
  const ended = FINAL_STATUSES.map((status) => `Status eq ${odata(status)}`).join(' or ');
  const filter = `RowKey ge 'job|' and RowKey lt 'job}' and UpdatedAt lt ${odata(cutoff)} and (${ended})`;
  const found: Array<{ id: string; owner: string }> = [];
  for await (const entity of jobs.listEntities<Entity>({
    queryOptions: { filter, select: ['PartitionKey', 'JobId'] },
  })) {
    found.push({ id: entity.JobId as string, owner: entity.partitionKey });
    if (found.length >= limit) break;
  }
  return found;
}

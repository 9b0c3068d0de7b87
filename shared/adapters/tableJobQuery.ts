import { createHash } from 'node:crypto';
import type { JobListOptions } from '../store/jobStore.js';
import { odata } from './tables.js';

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
  options: Omit<JobListOptions, 'limit' | 'continuation'>,
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

import {
  RestError,
  type TableClient,
  type TableEntityResult,
  type TransactionAction,
} from '@azure/data-tables';
import { ValidationError } from '../errors.js';
import type { Page } from '../store/jobStore.js';

/** A table row as the adapters read and write it. */
export type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

/** Whether an error is a storage answer with one of these HTTP statuses. */
export const isStatus = (error: unknown, ...codes: number[]): boolean =>
  error instanceof RestError && codes.includes(error.statusCode ?? 0);

/**
 * Runs `create` (e.g. creating a table) the first time it is awaited and shares that promise;
 * a failure is forgotten, so the next caller tries again.
 */
export function lazily(create: () => Promise<unknown>): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () =>
    (ready ??= create().then(
      () => undefined,
      (error: unknown) => {
        ready = undefined;
        throw error;
      },
    ));
}

/** A string literal for an OData filter. */
export const odata = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/** Opaque continuation tokens: the SDK's own, wrapped so a forged one fails validation here. */
function encodeContinuation(token: string | undefined): string | undefined {
  return token ? Buffer.from(JSON.stringify({ t: token })).toString('base64url') : undefined;
}

function decodeContinuation(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as { t?: unknown };
    if (typeof parsed.t === 'string' && parsed.t) return parsed.t;
  } catch {
    // falls through to the error below
  }
  throw new ValidationError('the continuation token is not valid', [
    { path: 'continuation', message: 'is not a token this API returned' },
  ]);
}

/**
 * One page of a filtered query, at most `limit` items, with an opaque continuation when more
 * remain. A forged or stale continuation is a 400 naming `continuation`.
 */
export async function tablePage<T>(
  table: TableClient,
  filter: string,
  limit: number,
  continuation: string | undefined,
  map: (entity: TableEntityResult<Entity>) => T,
  select?: string[],
): Promise<Page<T>> {
  const token = decodeContinuation(continuation);
  const items: T[] = [];
  let next = token;
  // A filtered query may answer a short (even empty) page with a continuation: keep reading
  // until the page is full or the results end, so callers never see an empty page mid-listing.
  do {
    const pages = table
      .listEntities<Entity>({ queryOptions: { filter, ...(select ? { select } : {}) } })
      .byPage({ maxPageSize: limit - items.length, ...(next ? { continuationToken: next } : {}) });
    let page;
    try {
      page = await pages.next();
    } catch (error) {
      if (next && isStatus(error, 400)) {
        throw new ValidationError('the continuation token is not valid', [
          { path: 'continuation', message: 'is not a token this API returned' },
        ]);
      }
      throw error;
    }
    if (page.done) {
      next = undefined;
      break;
    }
    for (const entity of page.value) items.push(map(entity));
    next = page.value.continuationToken;
  } while (next && items.length < limit);
  const result: Page<T> = { items };
  const encoded = encodeContinuation(next);
  if (encoded) result.continuation = encoded;
  return result;
}

// Table string properties hold 32K UTF-16 characters; longer JSON is split across numbered ones.
const CHUNK = 30_000;

/** The most JSON kept in one row (15 numbered properties): past it, a spec goes to a blob. */
export const MAX_INLINE_JSON = CHUNK * 15;

/** JSON too long for one table property, as numbered properties `<prefix>0`, `<prefix>1`, .... */
export function splitJson(value: unknown, prefix: string): Record<string, string> {
  const text = JSON.stringify(value);
  const out: Record<string, string> = {};
  for (let i = 0; i * CHUNK < text.length; i++) out[`${prefix}${i}`] = text.slice(i * CHUNK, (i + 1) * CHUNK);
  if (text.length === 0) out[`${prefix}0`] = '';
  return out;
}

/** The JSON {@link splitJson} stored under `prefix`, or undefined if there is none. */
export function joinJson<T>(entity: Record<string, unknown>, prefix: string): T | undefined {
  let text = '';
  for (let i = 0; typeof entity[`${prefix}${i}`] === 'string'; i++) text += entity[`${prefix}${i}`] as string;
  return text ? (JSON.parse(text) as T) : undefined;
}

/**
 * Deletes rows of one partition, a hundred to a transaction; a transaction that meets a row
 * already gone (a delete cut short took it) goes again row by row, so a retry finishes.
 */
export async function deleteRows(table: TableClient, rows: TransactionAction[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 100) {
    const batch = rows.slice(i, i + 100);
    try {
      await table.submitTransaction(batch);
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
      for (const [, row] of batch) await deleteEntityIfThere(table, row.partitionKey, row.rowKey);
    }
  }
}

/** Deletes one row; a row already gone is what was wanted. */
export async function deleteEntityIfThere(
  table: TableClient,
  partitionKey: string,
  rowKey: string,
): Promise<void> {
  await table.deleteEntity(partitionKey, rowKey).catch((error: unknown) => {
    if (!isStatus(error, 404)) throw error;
  });
}

/**
 * A random pause before a write that lost a race (the owner's change-log counter, a job's row)
 * tries again, growing with each loss: racers that all retried at once would mostly lose again,
 * and an owner submitting from 32 clients at once ran out of attempts.
 */
export function contentionPause(attempt: number): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(resolve, Math.random() * Math.min(250, 10 * 2 ** Math.min(attempt, 5))),
  );
}

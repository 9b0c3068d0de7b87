import type { EntityContext } from 'durable-functions';
import { z } from 'zod';
import { parseInput } from '../domain/issues.js';

/**
 * A user's slots for jobs on Batch, kept by a Durable entity per owner: the deployment's limit on
 * jobs running at once per user is exact because one entity answers every job's request in turn.
 * A job takes a slot before its Batch job is made and gives it back once its tasks are stopped.
 */

/** The entity's name (its key is {@link jobSlotsKey} of the owner). */
export const JOB_SLOTS_ENTITY = 'jobSlots';

/**
 * The entity key for an owner: table-safe and URL-safe, and short however long the owner id is
 * (a long one keeps its start and a hash of the whole).
 */
export function jobSlotsKey(owner: string): string {
  const encoded = encodeURIComponent(owner);
  if (encoded.length <= 200) return encoded;
  let hash = 0x811c9dc5;
  for (let i = 0; i < owner.length; i++) hash = Math.imul(hash ^ owner.charCodeAt(i), 0x01000193);
  return `${encoded.slice(0, 150)}~${(hash >>> 0).toString(16)}`;
}

/** The jobs holding a slot, in the order they took it. */
export const jobSlotsStateSchema = z.strictObject({ holders: z.array(z.string().min(1)) });

/** See {@link jobSlotsStateSchema}. */
export type JobSlotsState = z.infer<typeof jobSlotsStateSchema>;

const jobId = z.string().min(1).max(64);

/** The operations, each with its input, as the entity receives them. */
export const slotOperationSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('acquire'), jobId, limit: z.number().int().min(1) }),
  z.strictObject({ op: z.literal('release'), jobIds: z.array(jobId).min(1).max(1000) }),
  z.strictObject({ op: z.literal('get') }),
]);

/** See {@link slotOperationSchema}. */
export type SlotOperation = z.infer<typeof slotOperationSchema>;

/** What `acquire` answers: whether the job holds a slot now, and who holds them all. */
export const slotGrantSchema = z.strictObject({ granted: z.boolean(), holders: z.array(z.string()) });

/** See {@link slotGrantSchema}. */
export type SlotGrant = z.infer<typeof slotGrantSchema>;

/**
 * Applies one operation. `acquire` is idempotent (a job that holds a slot is granted it again, as
 * a replayed or retried request must be) and grants only below the limit; `release` forgets the
 * jobs given, held or not; `get` answers the holders.
 */
export function applySlotOperation(
  state: JobSlotsState,
  operation: SlotOperation,
): { state: JobSlotsState; result?: SlotGrant | string[] } {
  switch (operation.op) {
    case 'acquire': {
      if (state.holders.includes(operation.jobId))
        return { state, result: { granted: true, holders: state.holders } };
      if (state.holders.length >= operation.limit)
        return { state, result: { granted: false, holders: state.holders } };
      const holders = [...state.holders, operation.jobId];
      return { state: { holders }, result: { granted: true, holders } };
    }
    case 'release': {
      const gone = new Set(operation.jobIds);
      return { state: { holders: state.holders.filter((id) => !gone.has(id)) } };
    }
    case 'get':
      return { state, result: state.holders };
  }
}

/**
 * The entity function. A malformed operation throws, which fails that operation alone (its caller
 * sees the error); the state is read through its schema so a bad one cannot spread.
 */
export function jobSlotsEntity(context: EntityContext<JobSlotsState>): void {
  const input = context.df.getInput<Record<string, unknown>>();
  const operation = parseInput(slotOperationSchema, { op: context.df.operationName, ...(input ?? {}) });
  const state = jobSlotsStateSchema.parse(context.df.getState(() => ({ holders: [] })));
  const { state: next, result } = applySlotOperation(state, operation);
  context.df.setState(next);
  if (result !== undefined) context.df.return(result);
}

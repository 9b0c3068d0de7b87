import { z } from 'zod';
import type { ComputeBackend, PoolInfo } from '../compute/compute.js';
import { ConflictError, ForbiddenError, isAppError, NotFoundError } from '../errors.js';
import type { Caller } from '../identity.js';
import { parseInput } from '../domain/issues.js';

const poolId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 of letters, digits, "_" and "-"');
const nodes = z.number().int().min(0).max(10_000);

/** Body of `POST /pools`. */
export const poolCreateSchema = z.strictObject({
  id: poolId,
  vmSize: z.string().min(1).max(64),
  dedicatedNodes: nodes,
  lowPriorityNodes: nodes.optional(),
  slotsPerNode: z.number().int().min(1).max(256).optional(),
  displayName: z.string().max(1024).optional(),
  virtualMachineConfiguration: z.record(z.string(), z.unknown()).optional(),
});

/** Body of `PATCH /pools/{id}`: a new size. */
export const poolResizeSchema = z.strictObject({
  dedicatedNodes: nodes,
  lowPriorityNodes: nodes.optional(),
});

/**
 * Compute pools through the Batch adapter. Pools are shared by every user of the account, so
 * anyone may list them but only admins (or the single user of a local install) may change them.
 */
export class PoolsApi {
  constructor(private readonly compute: ComputeBackend) {}

  list(): Promise<PoolInfo[]> {
    return this.compute.listPools();
  }

  async create(caller: Caller, body: unknown): Promise<PoolInfo> {
    mayChange(caller);
    const spec = parseInput(poolCreateSchema, body);
    await this.compute.createPool(spec);
    return (await this.compute.getPool(spec.id))!;
  }

  async resize(caller: Caller, id: string, body: unknown): Promise<void> {
    mayChange(caller);
    const size = parseInput(poolResizeSchema, body);
    await missingAsNotFound(id, () =>
      this.compute.resizePool(id, size.dedicatedNodes, size.lowPriorityNodes),
    );
  }

  async delete(caller: Caller, id: string): Promise<void> {
    mayChange(caller);
    await missingAsNotFound(id, () => this.compute.deletePool(id));
  }
}

function mayChange(caller: Caller): void {
  if (!caller.admin && caller.via !== 'local') {
    throw new ForbiddenError('only admins may create, resize or delete pools', 'ADMIN_REQUIRED');
  }
}

// For a job a missing or resizing pool is something to wait for (BLOCKED); for this API it is an
// answer: missing, or busy.
async function missingAsNotFound(id: string, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (isAppError(error) && error.code === 'BATCH_POOL_NOT_FOUND') {
      throw new NotFoundError(`pool ${id} does not exist`, 'POOL_NOT_FOUND');
    }
    if (isAppError(error) && error.code === 'BATCH_POOL_RESIZING') {
      throw new ConflictError(
        `pool ${id} is being resized; change it again once it is steady`,
        'POOL_RESIZING',
      );
    }
    throw error;
  }
}

import { describe, expect, it } from 'vitest';
import {
  applySlotOperation,
  jobSlotsKey,
  slotOperationSchema,
} from '../../../shared/orchestration/jobSlots.js';

describe('job slots', () => {
  it('should grant below the limit, refuse at it, and grant a holder again (a repeated request)', () => {
    let state = { holders: [] as string[] };
    const acquire = (jobId: string) => {
      const out = applySlotOperation(state, { op: 'acquire', jobId, limit: 2 });
      state = out.state;
      return out.result;
    };
    expect(acquire('a')).toEqual({ granted: true, holders: ['a'] });
    expect(acquire('b')).toEqual({ granted: true, holders: ['a', 'b'] });
    expect(acquire('c')).toEqual({ granted: false, holders: ['a', 'b'] });
    expect(acquire('a')).toEqual({ granted: true, holders: ['a', 'b'] });
    state = applySlotOperation(state, { op: 'release', jobIds: ['a', 'never-held'] }).state;
    expect(acquire('c')).toEqual({ granted: true, holders: ['b', 'c'] });
    expect(applySlotOperation(state, { op: 'get' }).result).toEqual(['b', 'c']);
  });

  it('should refuse malformed operations, naming the field', () => {
    expect(slotOperationSchema.safeParse({ op: 'acquire', jobId: 'a', limit: 0 }).success).toBe(false);
    expect(slotOperationSchema.safeParse({ op: 'acquire', jobId: '', limit: 1 }).success).toBe(false);
    expect(slotOperationSchema.safeParse({ op: 'release', jobIds: [] }).success).toBe(false);
    expect(slotOperationSchema.safeParse({ op: 'acquire', jobId: 'a', limit: 1, extra: 1 }).success).toBe(
      false,
    );
    const unknown = slotOperationSchema.safeParse({ op: 'steal' });
    expect(unknown.success).toBe(false);
    expect(unknown.error?.issues[0]?.path).toEqual(['op']);
  });

  it('should make a key that is safe as a table key and short for any owner', () => {
    expect(jobSlotsKey('alice')).toBe('alice');
    expect(jobSlotsKey('a/b#c?d\\e')).not.toMatch(/[/#?\\]/);
    const long = 'x'.repeat(500);
    expect(jobSlotsKey(long).length).toBeLessThanOrEqual(160);
    expect(jobSlotsKey(long)).not.toBe(jobSlotsKey(`${'x'.repeat(499)}y`));
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { resolveBindingExpression } from '../../../infra/local/storage/storageBindings.js';

describe('binding expressions, as the Functions host resolves them', () => {
  afterEach(() => {
    delete process.env.NOTES_CONTAINER;
  });

  it('should take app settings, trigger data (case-insensitive, dotted into JSON) and built-ins', () => {
    process.env.NOTES_CONTAINER = 'notes';
    expect(resolveBindingExpression('%NOTES_CONTAINER%/{Name}.txt', { name: 'a' })).toBe('notes/a.txt');
    expect(resolveBindingExpression('out/{order.id}/{n}', { Order: { id: 'o-1' }, n: 3 })).toBe('out/o-1/3');
    expect(resolveBindingExpression('x/{rand-guid}', {})).toMatch(/^x\/[0-9a-f-]{36}$/);
    expect(resolveBindingExpression('x/{DateTime}', {})).toMatch(/^x\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('should fail an invocation whose expression names nothing it has', () => {
    expect(() => resolveBindingExpression('c/{name}', {})).toThrow(/\{name\} in "c\/\{name\}" has no value/);
    expect(() => resolveBindingExpression('c/{order}', { order: { id: 1 } })).toThrow(/has no value/);
    expect(() => resolveBindingExpression('%MISSING_SETTING%/x', {})).toThrow(
      /%MISSING_SETTING% .* is not set/,
    );
  });
});

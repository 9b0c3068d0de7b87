import { isPlatformContainer } from '../../../shared/jobs/inputChecks.js';
import { describe, expect, it } from 'vitest';
import { outputPath, shellCommandLine } from '../../../shared/domain/batchPlan.js';

describe('Batch plan details', () => {
  it.each([
    ['result.json', 'p/result.json'],
    ['results/a.csv', 'p/results/a.csv'],
    ['results/**', 'p/results'],
    ['*.csv', 'p'],
    ['out/*/x.txt', 'p/out'],
    ['a/b/file-?.txt', 'p/a/b'],
  ])('should upload %j so files keep their working-directory paths under the prefix', (pattern, expected) => {
    expect(outputPath('p', pattern)).toBe(expected);
  });

  it.each([
    ['echo hi', `/bin/sh -c 'echo hi'`],
    [`echo "it's" | tee x`, `/bin/sh -c 'echo "it'\\''s" | tee x'`],
  ])('should run %j under a shell, exactly as written', (command, expected) => {
    expect(shellCommandLine(command)).toBe(expected);
  });
});

describe('containers no job may read', () => {
  it.each([
    ['azure-webjobs-secrets', true],
    ['azure-webjobs-hosts', true],
    ['$logs', true],
    ['cloudjobs-largemessages', true],
    ['cloudjobs-leases', true],
    ['cloudjobs-applease', true],
    ['eventgrid-deadletter', true],
    ['t1234sb-large-messages', true],
    ['data', false],
    ['my-leases-archive', false],
  ])('%s → %s', (name, platform) => {
    expect(isPlatformContainer(name)).toBe(platform);
  });
});

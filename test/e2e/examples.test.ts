import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { parseManifest } from '../../shared/jobs/inboxIntake.js';
import { ENDED, jobClient } from '../support/jobClient.js';
import { ROOT, uniqueName, useRuntime } from '../support/runtimeProcess.js';

const EXAMPLES = path.join(ROOT, 'examples');
// What each example is meant to show; an example not listed here fails the test.
const EXPECTED: Record<string, { status: string; condition: string }> = {
  'hello.json': { status: 'FINISHED', condition: 'NORMAL_COMPLETION' },
  'workflow.json': { status: 'FINISHED', condition: 'NORMAL_COMPLETION' },
  'sweep.yaml': { status: 'FINISHED', condition: 'NORMAL_COMPLETION' },
  'failing.json': { status: 'FAILED', condition: 'TASK_FAILED' },
};

describe.concurrent('the examples in examples/, submitted as they are', async () => {
  const runtime = useRuntime({
    app: ROOT,
    storage: inject('azurite'),
    env: { CLOUDJOBS_TABLE_PREFIX: uniqueName('x') },
  });
  const api = jobClient(runtime);
  const files = (await readdir(EXAMPLES)).sort();

  it('should cover every example', () => {
    expect(files).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(files)('should run %s to its expected end', async (file) => {
    const spec = parseManifest(file, await readFile(path.join(EXAMPLES, file))) as Record<string, unknown>;
    const id = await api.submit(spec);
    const done = await api.until(id, ENDED);
    expect({ status: done.status, condition: done.condition }).toEqual(EXPECTED[file]);
  });

  it('should pass the data along in the workflow example', async () => {
    const spec = parseManifest('workflow.json', await readFile(path.join(EXAMPLES, 'workflow.json')));
    const id = await api.submit(spec as Record<string, unknown>);
    expect((await api.until(id, ENDED)).status).toBe('FINISHED');
    const report = await api.call('GET', `/jobs/${id}/tasks/report/logs/stdout`);
    expect(report.text).toBe('job workflow summary:\n{"rows": 1000, "sumOfSquares": 333833500}\n');
  });
});

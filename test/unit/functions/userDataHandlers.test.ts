import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inboxUploadUrl } from '../../../functions/inboxUploadUrl.js';
import { filesDelete } from '../../../functions/filesDelete.js';
import { filesGet } from '../../../functions/filesGet.js';
import { filesList } from '../../../functions/filesList.js';
import { filesUploadUrl } from '../../../functions/filesUploadUrl.js';
import { secretsPut } from '../../../functions/secretsPut.js';
import { secretsList } from '../../../functions/secretsList.js';
import { secretsDelete } from '../../../functions/secretsDelete.js';
import { jobsSubmit } from '../../../functions/jobsSubmit.js';
import { jobsGet } from '../../../functions/jobsGet.js';
import {
  ALICE,
  BOB,
  bodyOf,
  context,
  request,
  text,
  useHandlerServices,
} from '../../support/handlerServices.js';

const world = useHandlerServices();

/** The handlers of what users keep: their inbox, their files and their secrets. */
describe('HTTP handlers of users’ own data, in process', () => {
  it('should sign an inbox URL inside the caller’s folder only', async () => {
    const response = await inboxUploadUrl(request('GET', '/inbox/upload-url?file=run.yaml', BOB), context());
    expect(bodyOf(response)).toMatchObject({ blobName: 'bob/run.yaml', method: 'PUT' });
    expect(
      (await inboxUploadUrl(request('GET', '/inbox/upload-url?file=../alice/run.yaml', BOB), context()))
        .status,
    ).toBe(400);
  });

  it('should sign a file URL inside the caller’s own files only, refusing paths that climb out', async () => {
    const response = await filesUploadUrl(
      request('GET', '/files/upload-url?path=datasets%2Fa.csv', BOB),
      context(),
    );
    expect(bodyOf(response)).toMatchObject({ blobName: 'bob/datasets/a.csv', path: 'datasets/a.csv' });
    for (const path of ['../alice/a.csv', '/etc/passwd', 'a//b', './a', 'dir/', 'a\\b', '']) {
      const refused = await filesUploadUrl(
        request('GET', `/files/upload-url?path=${encodeURIComponent(path)}`, BOB),
        context(),
      );
      expect(refused.status, path).toBe(400);
      expect(bodyOf(refused).errors?.[0]?.path).toBe('path');
    }
  });

  it('should list, read (whole or a range) and remove only the caller’s own files', async () => {
    await world.uploads.write('alice/data/a.csv', 'x,y\n1,2\n', 'text/csv');
    await world.uploads.write('alice/data/b.csv', 'b', 'text/csv');
    await world.uploads.write('bob/data/a.csv', 'bob’s', 'text/csv');
    const listed = bodyOf(await filesList(request('GET', '/files?prefix=data/', ALICE), context()));
    expect((listed.items as Array<{ path: string; source: string }>).map((f) => f.source)).toEqual([
      'files://data/a.csv',
      'files://data/b.csv',
    ]);
    const paged = bodyOf(await filesList(request('GET', '/files?limit=1', ALICE), context()));
    expect(paged.items).toHaveLength(1);
    expect(paged.continuation).toBeDefined();

    const whole = await filesGet(request('GET', '/files/data/a.csv', ALICE), context());
    expect(whole.status).toBe(200);
    expect(await text(whole.body)).toBe('x,y\n1,2\n');
    const part = await filesGet(
      request('GET', '/files/data/a.csv', ALICE, undefined, { range: 'bytes=4-6' }),
      context(),
    );
    expect(part.status).toBe(206);
    expect((part.headers as Record<string, string>)['Content-Range']).toBe('bytes 4-6/8');
    expect(await text(part.body)).toBe('1,2');
    const past = await filesGet(
      request('GET', '/files/data/a.csv', ALICE, undefined, { range: 'bytes=99-' }),
      context(),
    );
    expect(past.status).toBe(416);
    // An empty file has no range to give: it comes whole, nothing, with a 200.
    await world.uploads.write('alice/data/empty.csv', '', 'text/csv');
    const empty = await filesGet(
      request('GET', '/files/data/empty.csv', ALICE, undefined, { range: 'bytes=0-99' }),
      context(),
    );
    expect(empty.status).toBe(200);
    expect(await text(empty.body)).toBe('');

    // Bob's path names his own folder: Alice's file of the same name is not his to read or remove.
    expect(bodyOf(await filesList(request('GET', '/files', BOB), context())).items).toHaveLength(1);
    expect((await filesGet(request('GET', '/files/data/b.csv', BOB), context())).status).toBe(404);
    expect((await filesDelete(request('DELETE', '/files/data/b.csv', BOB), context())).status).toBe(404);
    expect((await filesGet(request('GET', '/files/..%2Falice%2Fdata%2Fb.csv', BOB), context())).status).toBe(
      400,
    );

    expect(bodyOf(await filesDelete(request('DELETE', '/files/data/', ALICE), context()))).toEqual({
      removed: 3,
    });
    expect([...world.uploads.blobs.keys()]).toEqual(['bob/data/a.csv']);
    expect((await filesDelete(request('DELETE', '/files/data/', ALICE), context())).status).toBe(404);
  });

  it('should keep each owner’s secrets write-only and their own, and check jobs naming them', async () => {
    const value = 'hunter2-the-secret-value';
    const put = await secretsPut(
      request('PUT', '/secrets/db-password', ALICE, JSON.stringify({ value })),
      context(),
    );
    expect(put.status).toBe(200);
    expect(bodyOf(put)).toMatchObject({ name: 'db-password', ref: { secretRef: 'db-password' } });
    expect(JSON.stringify(bodyOf(put))).not.toContain(value);
    // The file holds it for its user alone.
    expect(readFileSync(world.secretsFile, 'utf8')).toContain(value);
    expect(statSync(world.secretsFile).mode & 0o077).toBe(0);

    const listed = await secretsList(request('GET', '/secrets', ALICE), context());
    expect(bodyOf(listed).items).toEqual([expect.objectContaining({ name: 'db-password' })]);
    expect(JSON.stringify(bodyOf(listed))).not.toContain(value);
    expect(bodyOf(await secretsList(request('GET', '/secrets', BOB), context())).items).toEqual([]);

    // Bad input names the field, and changes nothing.
    const refusals: Array<[string, string | undefined, string]> = [
      ['/secrets/DB_PASSWORD', JSON.stringify({ value }), 'name'],
      ['/secrets/-x', JSON.stringify({ value }), 'name'],
      ['/secrets/db-password', JSON.stringify({ value, note: 'x' }), 'note'],
      ['/secrets/db-password', JSON.stringify({ value: '' }), 'value'],
      ['/secrets/db-password', '{"value": ', '(body)'],
      ['/secrets/db-password', undefined, '(body)'],
    ];
    for (const [path, body, field] of refusals) {
      const refused = await secretsPut(request('PUT', path, ALICE, body), context());
      expect(refused.status, `${path} ${body}`).toBe(400);
      expect(bodyOf(refused).errors?.[0]?.path, `${path} ${body}`).toBe(field);
    }
    expect(readFileSync(world.secretsFile, 'utf8')).toContain(value);

    const spec = (env: Record<string, unknown>, taskEnv?: Record<string, unknown>) =>
      JSON.stringify({
        name: 'uses-secret',
        env,
        tasks: [{ id: 'a', command: 'echo', ...(taskEnv ? { env: taskEnv } : {}) }],
      });
    const submitted = await jobsSubmit(
      request('POST', '/jobs', ALICE, spec({ TOKEN: { secretRef: 'db-password' }, PLAIN: 'x' })),
      context(),
    );
    expect(submitted.status).toBe(202);
    const job = bodyOf(
      await jobsGet(request('GET', `/jobs/${String(bodyOf(submitted).id)}`, ALICE), context()),
    );
    expect(job.spec).toMatchObject({ env: { TOKEN: { secretRef: 'db-password' } } });
    expect(JSON.stringify(job)).not.toContain(value);

    // Bob has no secret of that name: Alice's is not his to name.
    const bobs = await jobsSubmit(
      request('POST', '/jobs', BOB, spec({}, { TOKEN: { secretRef: 'db-password' } })),
      context(),
    );
    expect(bobs.status).toBe(400);
    expect(bodyOf(bobs)).toMatchObject({ code: 'SECRET_NOT_FOUND' });
    expect(bodyOf(bobs).errors?.map((e) => e.path)).toEqual(['tasks[0].env.TOKEN.secretRef']);
    const malformed = await jobsSubmit(
      request('POST', '/jobs', ALICE, spec({ TOKEN: { secretRef: 'db-password', value: 'x' } })),
      context(),
    );
    expect(malformed.status).toBe(400);
    expect(bodyOf(malformed).errors?.[0]?.path).toMatch(/^env\.TOKEN/);
    expect(world.store.jobs.size).toBe(1);

    expect((await secretsDelete(request('DELETE', '/secrets/db-password', BOB), context())).status).toBe(404);
    expect((await secretsDelete(request('DELETE', '/secrets/db-password', ALICE), context())).status).toBe(
      204,
    );
    expect((await secretsDelete(request('DELETE', '/secrets/db-password', ALICE), context())).status).toBe(
      404,
    );
    expect(readFileSync(world.secretsFile, 'utf8')).not.toContain(value);
    const after = await jobsSubmit(
      request('POST', '/jobs', ALICE, spec({ TOKEN: { secretRef: 'db-password' } })),
      context(),
    );
    expect(bodyOf(after).errors?.map((e) => e.path)).toEqual(['env.TOKEN.secretRef']);
  });
});

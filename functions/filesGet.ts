import { app } from '@azure/functions';
import { apiHandler } from '../shared/http/endpoint.js';
import { fileResponse, partialFileResponse, requestedRange } from '../shared/http/files.js';

export const filesGet = apiHandler(async ({ request, caller, services }) => {
  const path = request.params.path ?? '';
  const range = requestedRange(request.headers.get('range'));
  const file = await services.userFiles.download(caller, path, range);
  const name = path.slice(path.lastIndexOf('/') + 1);
  const disposition = `attachment; filename*=UTF-8''${encodeURIComponent(name)}`;
  // An empty file has no range to give: it is answered whole.
  const answer =
    range && file.size > 0
      ? partialFileResponse(file, range, file.size, disposition)
      : fileResponse(file, disposition);
  return { ...answer, headers: { ...(answer.headers as Record<string, string>), 'Accept-Ranges': 'bytes' } };
});

app.http('filesGet', { route: 'files/{*path}', methods: ['GET'], authLevel: 'anonymous', handler: filesGet });

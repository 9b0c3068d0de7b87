import { app } from '@azure/functions';
import { apiHandler, queryObject } from '../shared/http/endpoint.js';
import { eventStreamResponse } from '../shared/http/files.js';
import { parseInput } from '../shared/domain/issues.js';
import { ownerEventsQuerySchema, parseOwnerCursor } from '../shared/jobs/ownerStreams.js';

export const eventsStream = apiHandler(async ({ request, caller, services }) => {
  const query = parseInput(ownerEventsQuerySchema, queryObject(request));
  const header = request.headers.get('last-event-id');
  const cursor =
    header !== null
      ? parseOwnerCursor(header, 'Last-Event-ID')
      : parseOwnerCursor(query.lastEventId, 'lastEventId');
  const events = await services.ownerStreams.open(
    caller,
    {
      ...(query.status ? { status: query.status } : {}),
      ...(query.name ? { name: query.name } : {}),
      ...(query.owner ? { owner: query.owner } : {}),
    },
    cursor,
  );
  return eventStreamResponse(events);
});

app.http('eventsStream', {
  route: 'events',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: eventsStream,
});

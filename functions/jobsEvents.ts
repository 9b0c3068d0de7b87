import { app } from '@azure/functions';
import { parseCursor } from '../shared/domain/jobStream.js';
import { apiHandler } from '../shared/http/endpoint.js';
import { eventStreamResponse } from '../shared/http/files.js';

export const jobsEvents = apiHandler(async ({ request, caller, services }) => {
  // EventSource sends Last-Event-ID when it reconnects; a first connection can only use the query.
  const header = request.headers.get('last-event-id');
  const cursor =
    header !== null
      ? parseCursor(header, 'Last-Event-ID')
      : parseCursor(request.query.get('lastEventId'), 'lastEventId');
  const events = await services.streams.open(caller, request.params.id!, cursor);
  return eventStreamResponse(events);
});

app.http('jobsEvents', {
  route: 'jobs/{id}/events',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: jobsEvents,
});

import { describe, expect, it } from 'vitest';
import { matches, type Subscription } from '../../../infra/local/eventgrid/subscriptions.js';
import { classifyWrite } from '../../../infra/local/eventgrid/blobProxy.js';
import { toOutgoing } from '../../../infra/local/servicebus/serviceBus.js';

const base: Subscription = {
  name: 'inbox',
  destination: { endpointType: 'AzureFunction', functionName: 'inboxBlobCreated' },
  filter: {},
  retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
};

function event(subject: string, data: Record<string, unknown> = {}) {
  return { eventType: 'Microsoft.Storage.BlobCreated', subject, data };
}

describe('Event Grid subscription filters', () => {
  const subject = '/blobServices/default/containers/job-inbox/blobs/alice/job.json';

  it.each([
    [{}, true],
    [{ includedEventTypes: ['Microsoft.Storage.BlobCreated'] }, true],
    [{ includedEventTypes: ['Microsoft.Storage.BlobDeleted'] }, false],
    [{ subjectBeginsWith: '/blobServices/default/containers/job-inbox/' }, true],
    [{ subjectBeginsWith: '/blobServices/default/containers/JOB-INBOX/' }, true],
    [
      { subjectBeginsWith: '/blobServices/default/containers/JOB-INBOX/', isSubjectCaseSensitive: true },
      false,
    ],
    [{ subjectBeginsWith: '/blobServices/default/containers/job-inbox-rejected/' }, false],
    [{ subjectEndsWith: '.json' }, true],
    [{ subjectEndsWith: '.yaml' }, false],
    [
      {
        advancedFilters: [
          { operatorType: 'NumberGreaterThan' as const, key: 'data.contentLength', value: 10 },
        ],
      },
      true,
    ],
    [
      {
        advancedFilters: [{ operatorType: 'NumberLessThan' as const, key: 'data.contentLength', value: 10 }],
      },
      false,
    ],
    [
      {
        advancedFilters: [
          { operatorType: 'StringIn' as const, key: 'data.contentType', values: ['APPLICATION/JSON'] },
        ],
      },
      true,
    ],
    [
      { advancedFilters: [{ operatorType: 'StringBeginsWith' as const, key: 'data.api', values: ['Put'] }] },
      true,
    ],
    [{ advancedFilters: [{ operatorType: 'IsNullOrUndefined' as const, key: 'data.missing' }] }, true],
  ])('should apply %j (match: %s)', (filter, expected) => {
    const subscription = { ...base, filter };
    expect(
      matches(
        subscription,
        event(subject, { contentLength: 12, contentType: 'application/json', api: 'PutBlob' }),
      ),
    ).toBe(expected);
  });
});

describe('which blob writes raise BlobCreated', () => {
  const url = (path: string) => new URL(`http://127.0.0.1:10000${path}`);

  it.each([
    [
      'PUT',
      '/devstoreaccount1/job-inbox/alice/x.json',
      {},
      { api: 'PutBlob', container: 'job-inbox', blob: 'alice/x.json' },
    ],
    [
      'PUT',
      '/devstoreaccount1/logs/a%20b/c.txt?comp=blocklist',
      {},
      { api: 'PutBlockList', container: 'logs', blob: 'a b/c.txt' },
    ],
    [
      'PUT',
      '/devstoreaccount1/c/copy',
      { 'x-ms-copy-source': 'http://x/y' },
      { api: 'CopyBlob', container: 'c', blob: 'copy' },
    ],
  ])('should raise for %s %s', (method, path, headers, expected) => {
    expect(classifyWrite(method, url(path), headers)).toEqual(expected);
  });

  it.each([
    ['GET', '/devstoreaccount1/c/blob'],
    ['PUT', '/devstoreaccount1/c/blob?comp=block&blockid=AAAA'],
    ['PUT', '/devstoreaccount1/c/blob?comp=metadata'],
    ['PUT', '/devstoreaccount1/c?restype=container'],
    ['DELETE', '/devstoreaccount1/c/blob'],
  ])('should not raise for %s %s', (method, path) => {
    expect(classifyWrite(method, url(path), {})).toBeUndefined();
  });
});

describe('Service Bus output binding values', () => {
  it('should send one message per array element, objects as JSON', () => {
    expect(toOutgoing({ json: JSON.stringify([{ a: 1 }, 'text', 3]) })).toEqual([
      { body: '{"a":1}', contentType: 'application/json' },
      { body: 'text' },
      { body: '3', contentType: 'application/json' },
    ]);
  });

  it('should send a single object, string or buffer as one message', () => {
    expect(toOutgoing({ json: '{"id":"x"}' })).toEqual([
      { body: '{"id":"x"}', contentType: 'application/json' },
    ]);
    expect(toOutgoing({ string: 'hello' })).toEqual([{ body: 'hello' }]);
    const [binary] = toOutgoing({ bytes: Buffer.from([1, 2, 3]) });
    expect(Buffer.isBuffer(binary!.body) && [...binary!.body]).toEqual([1, 2, 3]);
  });

  it('should send nothing for null', () => {
    expect(toOutgoing({ json: 'null' })).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { formatTimeSpan, parseDuration } from '../../../infra/local/util/timespan.js';
import { parseSchedule } from '../../../infra/local/timers/schedule.js';
import { namespacePrefix, resolveAppSettings, storageName } from '../../../infra/local/util/names.js';
import { resolveHostSettings, hostJsonSchema } from '../../../infra/local/host/hostConfig.js';
import { Logger, parseLogLevel } from '../../../infra/local/host/logger.js';
import { isDevelopmentStorage } from '../../../infra/local/storage/account.js';
import { instanceIdProblem, partitionOf } from '../../../infra/local/durable/messages.js';
import { actionMismatch, flattenActions, retryDelayMs } from '../../../infra/local/durable/sdkActions.js';
import { EventType } from '../../../infra/local/durable/history.js';

describe('durations', () => {
  it.each([
    ['00:00:01', 1000],
    ['00:05:00', 300_000],
    ['1.02:03:04', 93_784_000],
    ['00:00:00.250', 250],
    ['PT1M', 60_000],
    ['PT1H30M', 5_400_000],
    ['P1DT1S', 86_401_000],
    ['PT0.5S', 500],
  ])('should parse %s as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5 minutes', '1:2', 'PT', 'P'])('should refuse %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/not a duration/);
  });

  it('should format a TimeSpan the durable SDK can read back', () => {
    expect(formatTimeSpan(6 * 86_400_000)).toBe('6.00:00:00');
    expect(formatTimeSpan(61_000)).toBe('00:01:01');
  });
});

describe('timer schedules', () => {
  const from = new Date('2026-03-04T10:20:30.500Z');

  it.each([
    ['0 */5 * * * *', '2026-03-04T10:25:00.000Z'],
    ['* * * * * *', '2026-03-04T10:20:31.000Z'],
    ['30 0 9 * * 1-5', '2026-03-05T09:00:30.000Z'],
    ['0 0 0 1 1 *', '2027-01-01T00:00:00.000Z'],
    ['00:00:10', '2026-03-04T10:20:40.500Z'],
  ])('should find the next occurrence of %s', (expression, next) => {
    expect(parseSchedule(expression, 'UTC').next(from).toISOString()).toBe(next);
  });

  it.each([
    ['*/5 * * * *', /six fields/],
    ['0 0 0 0 0 0 0', /six fields/],
    ['0 0 0 * * 7', /0-6/],
    ['x * * * * *', /not a valid NCRONTAB/],
  ])('should refuse %j', (expression, message) => {
    expect(() => parseSchedule(expression, 'UTC')).toThrow(message);
  });
});

describe('storage names', () => {
  it.each([
    ['sb-', 'task-events', '', 'sb-task-events'],
    ['sb-', 'task-events', '-dlq', 'sb-task-events-dlq'],
  ])('should keep a valid name as it is: %s%s%s', (prefix, name, suffix, expected) => {
    expect(storageName(prefix, name, suffix)).toBe(expected);
  });

  it('should keep names that differ only in forbidden characters apart', () => {
    const a = storageName('sb-', 'Task_Events');
    const b = storageName('sb-', 'task.events');
    expect(a).not.toBe(b);
    for (const name of [a, b]) expect(name).toMatch(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/);
  });

  it('should stay within 63 characters', () => {
    expect(storageName('ns-sb-', 'x'.repeat(200), '-dlq').length).toBeLessThanOrEqual(63);
  });

  it('should make a namespace safe for storage names', () => {
    expect(namespacePrefix('Test_Run.1')).toBe('testrun1-');
    expect(namespacePrefix(undefined)).toBe('');
  });

  it('should resolve %Setting% expressions and name a missing setting', () => {
    expect(resolveAppSettings('%QUEUE%-x', { QUEUE: 'jobs' })).toBe('jobs-x');
    expect(() => resolveAppSettings('%MISSING%', {})).toThrow(/"MISSING"/);
  });
});

describe('host.json', () => {
  it('should fill in the Functions host defaults', () => {
    const settings = resolveHostSettings(hostJsonSchema.parse({ version: '2.0' }), 2);
    expect(settings).toMatchObject({
      routePrefix: 'api',
      durable: { hubName: 'TestHubName', maxConcurrentActivityFunctions: 20, partitionCount: 4 },
      serviceBus: {
        maxConcurrentCalls: 32,
        autoCompleteMessages: true,
        minMessageBatchSize: 1,
        maxBatchWaitTimeMs: 30_000,
      },
    });
  });

  it('should honour what the app sets', () => {
    const settings = resolveHostSettings(
      hostJsonSchema.parse({
        version: '2.0',
        extensions: {
          http: { routePrefix: '/v1/' },
          durableTask: {
            hubName: 'jobs',
            maxConcurrentActivityFunctions: 3,
            storageProvider: { partitionCount: 2, maxQueuePollingInterval: '00:00:05' },
          },
          serviceBus: { maxMessageBatchSize: 50, minMessageBatchSize: 20, maxBatchWaitTime: '00:00:01.5' },
        },
      }),
      2,
    );
    expect(settings.serviceBus).toMatchObject({
      maxMessageBatchSize: 50,
      minMessageBatchSize: 20,
      maxBatchWaitTimeMs: 1500,
    });
    expect(settings.routePrefix).toBe('v1');
    expect(settings.durable).toMatchObject({
      hubName: 'jobs',
      maxConcurrentActivityFunctions: 3,
      partitionCount: 2,
      maxQueuePollingIntervalMs: 5000,
    });
  });

  it.each([
    [{ version: '1.0' }, 'version'],
    [
      { version: '2.0', extensions: { durableTask: { hubName: 'has space' } } },
      'extensions.durableTask.hubName',
    ],
    [
      {
        version: '2.0',
        extensions: { durableTask: { storageProvider: { maxQueuePollingInterval: 'soon' } } },
      },
      'maxQueuePollingInterval',
    ],
    [
      { version: '2.0', extensions: { serviceBus: { minMessageBatchSize: 20, maxMessageBatchSize: 10 } } },
      'extensions.serviceBus.minMessageBatchSize',
    ],
    // Above the default maximum of 1000 when no maximum is set.
    [
      { version: '2.0', extensions: { serviceBus: { minMessageBatchSize: 1001 } } },
      'extensions.serviceBus.minMessageBatchSize',
    ],
    [
      { version: '2.0', extensions: { serviceBus: { maxBatchWaitTime: '00:05:00' } } },
      'extensions.serviceBus.maxBatchWaitTime',
    ],
  ])('should refuse %j naming the field', (json, field) => {
    const result = hostJsonSchema.safeParse(json);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.')).join()).toContain(field);
  });
});

describe('logging', () => {
  it('should apply the most specific category level', () => {
    const lines: string[] = [];
    const logger = new Logger({
      defaultLevel: 'warning',
      categoryLevels: { Function: 'information', 'Function.noisy': 'error' },
      write: (line) => lines.push(line),
      color: false,
    });
    logger.log({ level: 'information', source: 'a', message: 'shown' }, 'Function.a');
    logger.log({ level: 'warning', source: 'noisy', message: 'hidden' }, 'Function.noisy');
    logger.log({ level: 'information', source: 'runtime', message: 'hidden too' }, 'Host.runtime');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/INFO {2}\[a\] shown$/);
  });

  it.each([
    ['Information', 'information'],
    ['warn', 'warning'],
    ['Debug', 'debug'],
    ['loud', undefined],
  ])('should read the level %s', (text, level) => {
    expect(parseLogLevel(text)).toBe(level);
  });
});

describe('durable helpers', () => {
  it('should recognise development storage connection strings', () => {
    expect(isDevelopmentStorage('UseDevelopmentStorage=true')).toBe(true);
    expect(isDevelopmentStorage(' usedevelopmentstorage = TRUE; ')).toBe(true);
    expect(isDevelopmentStorage('DefaultEndpointsProtocol=https;AccountName=x')).toBe(false);
  });

  it('should spread instances over partitions deterministically', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[partitionOf(`job-${i}`, 4)]!++;
    for (const count of counts) expect(count).toBeGreaterThan(800);
    expect(partitionOf('job-1', 4)).toBe(partitionOf('job-1', 4));
  });

  it.each([
    ['', /empty/],
    ['a/b', /contains/],
    ['a?b', /contains/],
    ['line\nbreak', /contains/],
    ['@entity', /entities/],
    ['x'.repeat(257), /longer/],
  ])('should refuse the instance id %j', (id, message) => {
    expect(instanceIdProblem(id)).toMatch(message);
  });

  it('should follow DTFx backoff, capped by the maximum interval', () => {
    const policy = {
      firstRetryIntervalInMilliseconds: 1000,
      maxNumberOfAttempts: 5,
      backoffCoefficient: 2,
      maxRetryIntervalInMilliseconds: 5000,
    };
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(policy, attempt))).toEqual([1000, 2000, 4000, 5000]);
  });

  it('should flatten nested Task.all / Task.any actions in scheduling order, each action once', () => {
    const a = { actionType: 0, functionName: 'a' };
    const b = { actionType: 5, fireAt: new Date() };
    const c = { actionType: 6, externalEventName: 'go' };
    const actions = [
      [a, { actionType: 12, compoundActions: [a, { actionType: 11, compoundActions: [b, c] }] }],
    ];
    expect(flattenActions(actions)).toEqual([a, b, c]);
  });

  it('should name what a replay changed: the kind of task, or the function it calls', () => {
    const scheduled = (type: number, name?: string) => ({
      EventType: type as (typeof EventType)[keyof typeof EventType],
      EventId: 3,
      IsPlayed: true,
      Timestamp: '2026-01-01T00:00:00Z',
      ...(name ? { Name: name } : {}),
    });
    const activity = scheduled(EventType.TaskScheduled, 'double');
    expect(actionMismatch({ actionType: 1, functionName: 'double' }, activity)).toBeUndefined();
    expect(actionMismatch({ actionType: 0, functionName: 'echo' }, activity)).toBe(
      'task 3 called "double" and now calls "echo"',
    );
    expect(actionMismatch({ actionType: 5 }, activity)).toBe('task 3 was a activity and is now a timer');
    expect(actionMismatch({ actionType: 2, functionName: 'child' }, scheduled(EventType.TimerCreated))).toBe(
      'task 3 was a timer and is now a sub-orchestration',
    );
    expect(actionMismatch({ actionType: 0, functionName: 'x' }, scheduled(EventType.EventSent, 'e'))).toBe(
      'task 3 was a event and is now a activity',
    );
  });
});

import { describe, expect, it } from 'vitest';
import {
  EventType,
  type EventTypeValue,
  type HistoryEvent,
  type RuntimeStatus,
} from '../../../infra/local/durable/history.js';
import { Logger } from '../../../infra/local/host/logger.js';
import {
  classifyMessage,
  continuationExecutionId,
  type Classification,
} from '../../../infra/local/durable/messageClassifier.js';
import type { ControlMessage } from '../../../infra/local/durable/messages.js';
import { OrchestrationState } from '../../../infra/local/durable/state.js';

const log = new Logger({ defaultLevel: 'none', write: () => undefined }).child('durable');
const T = '2026-01-01T00:00:00.000Z';

function event(type: EventTypeValue, extra: Partial<HistoryEvent> = {}): HistoryEvent {
  return { EventType: type, EventId: -1, IsPlayed: false, Timestamp: T, ...extra };
}

/** An instance on execution `e1` with activity 0 scheduled (with a retry policy when asked). */
function running(status: RuntimeStatus = 'Running', retry = false): OrchestrationState {
  const state = new OrchestrationState({
    instanceId: 'i',
    name: 'orch',
    version: '',
    executionId: 'e1',
    status,
    input: null,
    output: null,
    customStatus: null,
    createdTime: T,
    lastUpdatedTime: T,
  });
  state.append(event(EventType.ExecutionStarted, { MessageId: 'start' }));
  state.append(
    event(EventType.TaskScheduled, {
      EventId: 0,
      Name: 'act',
      ...(retry ? { RetryOptions: { firstRetryIntervalInMilliseconds: 1000, maxNumberOfAttempts: 3 } } : {}),
    }),
  );
  return state;
}

function classify(
  state: OrchestrationState | undefined,
  message: Partial<ControlMessage> & { event: HistoryEvent },
  options: { knownPending?: boolean; seen?: { targets: number[]; ids: string[] } } = {},
): Classification {
  return classifyMessage(
    state,
    { id: 'm', instanceId: 'i', ...message },
    {
      targets: new Set(options.seen?.targets ?? []),
      ids: new Set(options.seen?.ids ?? []),
    },
    { knownPending: options.knownPending ?? false, log },
  );
}

const start = (executionId: string, extra: Partial<HistoryEvent> = {}) =>
  event(EventType.ExecutionStarted, {
    OrchestrationInstance: { InstanceId: 'i', ExecutionId: executionId },
    ...extra,
  });
const completed = (id: number) => event(EventType.TaskCompleted, { TaskScheduledId: id });

describe('durable control message classification', () => {
  it('should start a new instance, and treat its start seen again as a duplicate', () => {
    expect(classify(undefined, { event: start('e1') })).toBe('start');
    expect(classify(running(), { event: start('e1') })).toBe('duplicate');
  });

  it('should start a continue-as-new only once its episode is committed', () => {
    const next = start(continuationExecutionId('e1'));
    expect(classify(running('ContinuedAsNew'), { event: next })).toBe('start');
    expect(classify(running(), { event: next })).toBe('stale');
  });

  it('should refuse a second start of a running instance, and restart an ended one', () => {
    expect(classify(running(), { event: start('other') })).toBe('reject-start');
    expect(classify(running('Completed'), { event: start('other') })).toBe('start');
  });

  it('should recognise a child created again by the same parent task after a crash', () => {
    const parent = {
      Name: 'p',
      OrchestrationInstance: { InstanceId: 'p', ExecutionId: 'pe' },
      TaskScheduleId: 4,
    };
    const state = running();
    state.record.parent = parent;
    expect(classify(state, { event: start('other', { ParentInstance: parent }) })).toBe('recreate');
  });

  it('should defer events for an instance not started yet only when a start is known to be coming', () => {
    expect(classify(undefined, { event: completed(0) }, { knownPending: true })).toBe('defer');
    expect(classify(undefined, { event: completed(0) })).toBe('stale');
  });

  it('should drop events for another execution or an ended one', () => {
    expect(classify(running(), { event: completed(0), executionId: 'e0' })).toBe('stale');
    expect(classify(running('Completed'), { event: completed(0) })).toBe('stale');
    // Aimed at whatever execution is current: it waits for the continued one.
    expect(classify(running('ContinuedAsNew'), { event: event(EventType.EventRaised, { Name: 'x' }) })).toBe(
      'defer',
    );
  });

  it('should apply a completion once: not for an unknown task, not twice, not twice in one episode', () => {
    expect(classify(running(), { event: completed(0) })).toBe('apply');
    expect(classify(running(), { event: completed(7) })).toBe('duplicate');
    expect(classify(running(), { event: completed(0) }, { seen: { targets: [0], ids: [] } })).toBe(
      'duplicate',
    );
    expect(classify(running(), { id: 'start', event: completed(0) })).toBe('duplicate');
    const done = running();
    done.append(completed(0));
    expect(classify(done, { event: completed(0) })).toBe('duplicate');
  });

  it('should mark a failure of a task with a retry policy as allocating ids', () => {
    const failed = event(EventType.TaskFailed, { TaskScheduledId: 0 });
    expect(classify(running('Running', true), { event: failed })).toBe('allocating');
    expect(classify(running('Running', false), { event: failed })).toBe('apply');
  });

  it('should suspend a running instance, buffer while suspended, and resume only a suspended one', () => {
    expect(classify(running(), { event: event(EventType.ExecutionSuspended) })).toBe('suspend');
    expect(classify(running('Suspended'), { event: completed(0) })).toBe('buffer');
    expect(classify(running('Suspended'), { event: event(EventType.ExecutionResumed) })).toBe('resume');
    expect(classify(running(), { event: event(EventType.ExecutionResumed) })).toBe('stale');
    expect(classify(running('Suspended'), { event: event(EventType.ExecutionTerminated) })).toBe('terminate');
  });
});

import { describe, expect, it } from 'vitest';
import {
  EventType,
  OrchestrationStatusCode,
  type EventTypeValue,
  type HistoryEvent,
} from '../../../infra/local/durable/history.js';
import { reconcileRecord, type InstanceRecord } from '../../../infra/local/durable/state.js';

const at = (second: number) => `2026-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;
const record = (status: InstanceRecord['status'] = 'Running'): InstanceRecord => ({
  instanceId: 'i',
  name: 'work',
  version: '',
  executionId: 'e',
  status,
  input: null,
  output: null,
  customStatus: null,
  createdTime: at(0),
  lastUpdatedTime: at(0),
});
const event = (type: EventTypeValue, second: number, extra: Partial<HistoryEvent> = {}): HistoryEvent => ({
  EventType: type,
  EventId: -1,
  IsPlayed: false,
  Timestamp: at(second),
  ...extra,
});
const started = event(EventType.ExecutionStarted, 0);

describe('reconcileRecord (an instance row brought in line with its history)', () => {
  it.each([
    ['suspended', [started, event(EventType.ExecutionSuspended, 1)], 'Suspended'],
    [
      'suspended then resumed',
      [started, event(EventType.ExecutionSuspended, 1), event(EventType.ExecutionResumed, 2)],
      'Running',
    ],
    ['terminated', [started, event(EventType.ExecutionTerminated, 1, { Input: '"stop"' })], 'Terminated'],
    [
      'completed',
      [
        started,
        event(EventType.ExecutionCompleted, 1, {
          OrchestrationStatus: OrchestrationStatusCode.Completed,
          Result: '7',
        }),
      ],
      'Completed',
    ],
  ] as const)('should take the status of a history that ended %s', (_, history, status) => {
    const row = record();
    expect(reconcileRecord(row, history)).toBe(status !== 'Running');
    expect(row.status).toBe(status);
  });

  it('should take the output and end time from the ending event', () => {
    const row = record();
    reconcileRecord(row, [started, event(EventType.ExecutionTerminated, 4, { Input: '"stop"' })]);
    expect(row).toMatchObject({ output: '"stop"', completedTime: at(4), lastUpdatedTime: at(4) });
  });

  it('should mark a pending row whose history started as running', () => {
    const row = record('Pending');
    expect(reconcileRecord(row, [started])).toBe(true);
    expect(row.status).toBe('Running');
  });

  it('should change nothing when the row agrees, or there is no history', () => {
    const row = record('Suspended');
    expect(reconcileRecord(row, [started, event(EventType.ExecutionSuspended, 1)])).toBe(false);
    const empty = record('Pending');
    expect(reconcileRecord(empty, [])).toBe(false);
    expect(empty.status).toBe('Pending');
  });
});

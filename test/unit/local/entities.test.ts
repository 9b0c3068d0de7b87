import * as df from 'durable-functions';
import { describe, expect, it } from 'vitest';
import { EventType } from '../../../infra/local/durable/history.js';
import { createTestHost, DurableSimulation } from './durableSimulation.js';
import {
  admitRequests,
  emptySchedulerState,
  entityIdProblem,
  entityInstanceId,
  parseEntityBatchResult,
  parseEntityInstanceId,
  requestId,
  responseFor,
  SENDER_MEMORY_MS,
  type ArrivedRequest,
  type RequestMessage,
} from '../../../infra/local/durable/entities.js';

const T0 = Date.parse('2026-12-07T10:00:00Z');

function fromSender(sender: string, seq: number, prevSentAt?: number): ArrivedRequest {
  const request: RequestMessage = {
    id: `${sender}-${seq}`,
    op: 'append',
    signal: true,
    input: JSON.stringify(seq),
    sender,
    seq,
    ...(prevSentAt !== undefined ? { prevSentAt: new Date(prevSentAt).toISOString() } : {}),
    timestamp: new Date(T0).toISOString(),
  };
  return { messageId: `m-${sender}-${seq}-${Math.random()}`, request };
}

function fromClient(messageId: string): ArrivedRequest {
  return {
    messageId,
    request: { id: messageId, op: 'add', signal: true, input: '1', timestamp: new Date(T0).toISOString() },
  };
}

const positions = (ready: ArrivedRequest[]) =>
  ready.map((r) => `${r.request.sender ?? 'client'}#${r.request.seq ?? r.messageId}`);

describe('entity ids', () => {
  it('should lower-case the name and keep the key as given, as the extension does', () => {
    expect(entityInstanceId({ name: 'Counter', key: 'User-A' })).toBe('@counter@User-A');
    expect(parseEntityInstanceId('@counter@User-A')).toEqual({ name: 'counter', key: 'User-A' });
    // A key may itself contain "@": only the first one after the name separates.
    expect(parseEntityInstanceId('@mail@ann@example.org')).toEqual({ name: 'mail', key: 'ann@example.org' });
    expect(parseEntityInstanceId('plain-instance')).toBeUndefined();
    expect(parseEntityInstanceId('@@key')).toBeUndefined();
  });

  it('should refuse names and keys that cannot be table keys or URL segments', () => {
    expect(entityIdProblem({ name: 'counter', key: 'ok key' })).toBeUndefined();
    expect(entityIdProblem({ name: '', key: 'k' })).toMatch(/name is empty/);
    expect(entityIdProblem({ name: 'counter', key: '' })).toMatch(/key is empty/);
    expect(entityIdProblem({ name: 'a@b', key: 'k' })).toMatch(/"@"/);
    for (const key of ['a/b', 'a\\b', 'a#b', 'a?b', 'a\nb', 'a\u0085b']) {
      expect(entityIdProblem({ name: 'counter', key })).toMatch(/contains/);
    }
    expect(entityIdProblem({ name: 'counter', key: 'k'.repeat(260) })).toMatch(/longer/);
  });

  it('should derive the same request id for the same task of the same execution, and only then', () => {
    const id = requestId('orch', 'exec', 3);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(requestId('orch', 'exec', 3)).toBe(id);
    expect(requestId('orch', 'exec', 4)).not.toBe(id);
    expect(requestId('orch', 'exec2', 3)).not.toBe(id);
  });
});

describe('admitting requests to an entity', () => {
  it('should apply a sender’s requests in order even when they arrive out of order', () => {
    const scheduler = emptySchedulerState();
    const first = admitRequests(scheduler, [fromSender('o', 1), fromSender('o', 3, T0)], T0);
    expect(positions(first.ready)).toEqual(['o#1']);
    expect(scheduler.waiting).toHaveLength(1);
    const second = admitRequests(scheduler, [fromSender('o', 2, T0)], T0 + 10);
    expect(positions(second.ready)).toEqual(['o#2', 'o#3']);
    expect(scheduler.waiting).toHaveLength(0);
    expect(scheduler.senders.o).toEqual({ last: 3, at: T0 + 10 });
  });

  it('should drop a request applied before, and one already waiting, as repeats', () => {
    const scheduler = emptySchedulerState();
    admitRequests(scheduler, [fromSender('o', 1), fromSender('o', 2, T0)], T0);
    const again = admitRequests(
      scheduler,
      [fromSender('o', 2, T0), fromSender('o', 4, T0), fromSender('o', 4, T0)],
      T0,
    );
    expect(again.ready).toEqual([]);
    expect(again.duplicates).toBe(2);
    expect(scheduler.waiting).toHaveLength(1);
  });

  it('should keep senders apart: one sender waiting does not hold up another', () => {
    const scheduler = emptySchedulerState();
    const { ready } = admitRequests(
      scheduler,
      [fromSender('a', 2, T0), fromSender('b', 1), fromSender('b', 2, T0), fromSender('a', 1)],
      T0,
    );
    expect(positions(ready)).toEqual(['b#1', 'b#2', 'a#1', 'a#2']);
  });

  it('should start afresh with a sender it forgot, once that sender’s previous request is older than its memory', () => {
    const scheduler = emptySchedulerState();
    admitRequests(scheduler, [fromSender('o', 1)], T0);
    const later = T0 + SENDER_MEMORY_MS + 1000;
    // Pruned on this call: o was quiet for longer than the memory.
    admitRequests(scheduler, [fromClient('x')], later);
    expect(scheduler.senders.o).toBeUndefined();
    const resumed = admitRequests(scheduler, [fromSender('o', 2, T0)], later);
    expect(positions(resumed.ready)).toEqual(['o#2']);
    // But an unknown sender whose predecessor was sent just now waits for it.
    const fresh = admitRequests(scheduler, [fromSender('n', 5, later)], later);
    expect(fresh.ready).toEqual([]);
    expect(scheduler.waiting).toHaveLength(1);
  });

  it('should release a request whose predecessor never came once it has waited longer than the memory', () => {
    const scheduler = emptySchedulerState();
    admitRequests(scheduler, [fromSender('o', 1), fromSender('o', 3, T0), fromSender('o', 4, T0)], T0);
    expect(scheduler.waiting).toHaveLength(2);
    const { ready } = admitRequests(scheduler, [], T0 + SENDER_MEMORY_MS + 1);
    expect(positions(ready)).toEqual(['o#3', 'o#4']);
    expect(scheduler.waiting).toHaveLength(0);
    // The late predecessor, should it come after all, is a repeat now.
    expect(admitRequests(scheduler, [fromSender('o', 2, T0)], T0 + SENDER_MEMORY_MS + 2).duplicates).toBe(1);
  });

  it('should apply client signals in arrival order and drop a redelivered one by its message id', () => {
    const scheduler = emptySchedulerState();
    const first = admitRequests(scheduler, [fromClient('c1'), fromClient('c2')], T0);
    expect(positions(first.ready)).toEqual(['client#c1', 'client#c2']);
    const again = admitRequests(scheduler, [fromClient('c2'), fromClient('c3')], T0 + 1000);
    expect(positions(again.ready)).toEqual(['client#c3']);
    expect(again.duplicates).toBe(1);
    admitRequests(scheduler, [], T0 + SENDER_MEMORY_MS + 2000);
    expect(Object.keys(scheduler.recent)).toEqual([]);
  });
});

describe('entity batch results', () => {
  it('should read the SDK’s EntityState and refuse anything else, naming the field', () => {
    const parsed = parseEntityBatchResult({
      entityExists: true,
      entityState: '5',
      results: [
        { isError: false, duration: 1, startTime: T0, result: '5' },
        { isError: false, duration: 0 },
      ],
      signals: [{ target: { name: 'ledger', key: 'k' }, name: 'append', input: '"x"', requestTime: T0 }],
    });
    expect(parsed).toEqual({
      entityExists: true,
      entityState: '5',
      results: [{ isError: false, result: '5' }, { isError: false }],
      signals: [{ target: { name: 'ledger', key: 'k' }, name: 'append', input: '"x"' }],
    });
    expect(parseEntityBatchResult(undefined)).toMatch(/did not return an entity state/);
    expect(parseEntityBatchResult({ entityExists: true, results: [], signals: [{ name: 'x' }] })).toMatch(
      /signals\.0\.target/,
    );
  });

  it('should answer a caller as the extension does: the result text, or the error marked "Error"', () => {
    expect(responseFor({ isError: false, result: '6' })).toEqual({ result: '6' });
    expect(responseFor({ isError: false })).toEqual({ result: null });
    expect(responseFor({ isError: true, result: '{}' })).toEqual({ result: '{}', exceptionType: 'Error' });
  });
});

describe('entities through the episode logic (in memory, the real SDK)', () => {
  const host = createTestHost();
  df.app.entity('tally', (context: df.EntityContext<number>) => {
    const value = context.df.getState(() => 0)!;
    if (context.df.operationName === 'add') context.df.setState(value + context.df.getInput<number>()!);
    if (context.df.operationName === 'get') context.df.return(value);
    if (context.df.operationName === 'set') context.df.setState(context.df.getInput<number>() ?? 0);
  });
  df.app.orchestration('lockedMoves', function* (context: df.OrchestrationContext) {
    const [a, b] = [new df.EntityId('tally', 'a'), new df.EntityId('tally', 'b')];
    for (let i = 0; i < 3; i++) {
      const lock = (yield context.df.lock([a, b])) as df.DurableLock;
      const x = (yield context.df.callEntity(a, 'get')) as number;
      const y = (yield context.df.callEntity(b, 'get')) as number;
      yield context.df.callEntity(a, 'set', x - 1);
      yield context.df.callEntity(b, 'set', y + 1);
      lock.release();
    }
    return 'moved';
  });
  df.app.orchestration('tallyThree', function* (context: df.OrchestrationContext) {
    const tally = new df.EntityId('tally', context.df.getInput<string>());
    for (const n of [1, 2, 3]) context.df.signalEntity(tally, 'add', n);
    return (yield context.df.callEntity(tally, 'get')) as number;
  });

  it('should apply signals once when the episode that sent them crashed before committing and ran again', async () => {
    const sim = new DurableSimulation(host);
    sim.crashAfterSending('o-crash', 1);
    const id = sim.start('tallyThree', 'k1', 'o-crash');
    await sim.run();
    expect(sim.status(id)).toMatchObject({ status: 'Completed', output: 6 });
    expect(sim.entityState('@tally@k1')).toBe(6);
  });

  it('should apply a redelivered request once, and answer the call once', async () => {
    const sim = new DurableSimulation(host, 'one');
    // Every message delivered twice, as at-least-once queues may: requests, answers, completions.
    const deliver = sim.deliver.bind(sim);
    sim.deliver = (message, at) => deliver(message, at, true);
    const id = sim.start('tallyThree', 'k2', 'o-dup');
    await sim.run();
    expect(sim.status(id)).toMatchObject({ status: 'Completed', output: 6 });
    expect(sim.entityState('@tally@k2')).toBe(6);
    const answers = sim.status(id).history.filter((e) => e.EventType === EventType.EventRaised);
    expect(answers).toHaveLength(1);
  });

  it('should run critical sections of concurrent orchestrations one at a time, through crashes and repeats', async () => {
    const sim = new DurableSimulation(host, 'one');
    const deliver = sim.deliver.bind(sim);
    sim.deliver = (message, at) => deliver(message, at, true);
    sim.crashAfterSending('m1', 2);
    sim.crashAfterSending('m2', 5);
    const ids = ['m1', 'm2', 'm3'].map((id) => sim.start('lockedMoves', null, id));
    await sim.run();
    for (const id of ids) expect(sim.status(id)).toMatchObject({ status: 'Completed', output: 'moved' });
    expect(sim.entityState('@tally@a')).toBe(-9);
    expect(sim.entityState('@tally@b')).toBe(9);
    // Every section ended: nothing holds the entities, nothing waits on them.
    for (const key of ['@tally@a', '@tally@b']) {
      expect(sim.entities.get(key)).toMatchObject({ queue: [] });
      expect(sim.entities.get(key)?.lockedBy).toBeUndefined();
    }
  });
});

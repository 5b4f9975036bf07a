import type { OtelSpan } from './genai-span';
import { TraceHold } from './trace-hold';

const spans = (...ids: string[]) => ids.map((span_id) => ({ span_id }) as OtelSpan);
const batch = (trace: string, ...ids: string[]) => ({
  team: 'support',
  trace_id: trace,
  spans: spans(...ids),
});
const due = (sut: TraceHold, now: number) => sut.due(now).map((d) => [d.trace.traceId, d.reason]);

describe(TraceHold.name, () => {
  const limits = { holdMs: 5000, maxHoldMs: 30000, maxSpans: 100 };

  it('releases a trace once it has been quiet for holdMs after its last span', () => {
    const sut = new TraceHold(limits);
    sut.add(0, '10', batch('t1', 'a'), 0);
    sut.add(0, '11', batch('t1', 'b'), 4000);

    expect(due(sut, 8999)).toEqual([]);
    expect(due(sut, 9000)).toEqual([['t1', 'quiet']]);
    const [{ trace }] = sut.due(9000);
    expect([...trace.spans.keys()]).toEqual(['a', 'b']);
  });

  it('releases a trace that never goes quiet maxHoldMs after its first span', () => {
    const sut = new TraceHold(limits);
    for (let t = 0; t <= 30000; t += 1000) sut.add(0, String(t), batch('busy', `s${t}`), t);
    expect(due(sut, 29999)).toEqual([]);
    expect(due(sut, 30000)).toEqual([['busy', 'max_hold']]);
  });

  it('releases the oldest traces early while more than maxSpans are held', () => {
    const sut = new TraceHold({ ...limits, maxSpans: 4 });
    sut.add(0, '1', batch('old', 'a', 'b'), 0);
    sut.add(1, '1', batch('mid', 'c', 'd'), 10);
    sut.add(0, '2', batch('new', 'e', 'f'), 20);

    expect(sut.heldSpans).toBe(6);
    expect(due(sut, 30)).toEqual([['old', 'memory']]);
  });

  it('counts a span sent twice once', () => {
    const sut = new TraceHold(limits);
    sut.add(0, '1', batch('t', 'a', 'b'), 0);
    sut.add(0, '2', batch('t', 'b'), 0);
    expect(sut.heldSpans).toBe(2);
  });

  it('keys traces by team: two teams’ traces with the same id are two traces', () => {
    const sut = new TraceHold(limits);
    sut.add(0, '1', batch('t', 'a'), 0);
    sut.add(0, '2', { ...batch('t', 'a'), team: 'billing' }, 0);
    expect(sut.heldTraces).toBe(2);
  });

  it('commits each partition up to the first record of its oldest trace held, else all it consumed', () => {
    const sut = new TraceHold(limits);
    sut.add(0, '10', batch('a', 'x'), 0);
    sut.add(0, '11', batch('b', 'y'), 1000);
    sut.add(0, '12', batch('a', 'z'), 2000);
    sut.add(1, '40', batch('c', 'w'), 0);
    expect(sut.commitable()).toEqual([
      { partition: 0, offset: '10' },
      { partition: 1, offset: '40' },
    ]);

    for (const { trace } of sut.due(6000)) sut.release(trace); // b and c are quiet; a is not (its last span at 2000)
    expect(sut.commitable()).toEqual([
      { partition: 0, offset: '10' },
      { partition: 1, offset: '41' },
    ]);
    for (const { trace } of sut.due(7000)) sut.release(trace);
    expect(sut.commitable()).toEqual([
      { partition: 0, offset: '13' },
      { partition: 1, offset: '41' },
    ]);
    expect(sut.heldSpans).toBe(0);
  });

  it('passes over records it already added (redelivered after a rejoin) and records without spans', () => {
    const sut = new TraceHold(limits);
    expect(sut.add(0, '5', batch('a', 'x'), 0)).toBe(true);
    expect(sut.add(0, '5', batch('a', 'x2'), 0)).toBe(false);
    expect(sut.add(0, '4', batch('a', 'x3'), 0)).toBe(false);
    sut.passOver(0, '6');
    expect(sut.heldSpans).toBe(1);
    for (const { trace } of sut.due(5000)) sut.release(trace);
    expect(sut.commitable()).toEqual([{ partition: 0, offset: '7' }]);
  });

  it('forgets the traces and progress of partitions no longer owned', () => {
    const sut = new TraceHold(limits);
    sut.add(0, '1', batch('a', 'x'), 0);
    sut.add(1, '1', batch('b', 'y', 'z'), 0);

    sut.keepOnly(new Set([0]));

    expect(sut.heldSpans).toBe(1);
    expect(sut.commitable()).toEqual([{ partition: 0, offset: '1' }]);
    // given back later, partition 1 is read again from its commit
    expect(sut.add(1, '1', batch('b', 'y'), 0)).toBe(true);
  });
});

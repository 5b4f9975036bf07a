import { RateLimiter } from './rate-limiter';

describe(RateLimiter.name, () => {
  let now: number;
  const clock = () => now;

  beforeEach(() => {
    now = 1_000_000;
  });

  it('allows a burst, then refuses with the whole seconds until the next token', () => {
    const sut = new RateLimiter({ perSecond: 2, burst: 3 }, { now: clock });
    expect([1, 2, 3].map(() => sut.take('k').allowed)).toEqual([true, true, true]);
    expect(sut.take('k')).toEqual({ allowed: false, retryAfterS: 1 });
    now += 499;
    expect(sut.take('k').allowed).toBe(false);
    now += 1;
    expect(sut.take('k').allowed).toBe(true);
    expect(sut.take('k').allowed).toBe(false);
  });

  it('never tells a client to retry after less than one second, and rounds up', () => {
    const slow = new RateLimiter({ perSecond: 0.25, burst: 1 }, { now: clock });
    expect(slow.take('k').allowed).toBe(true);
    expect(slow.take('k')).toEqual({ allowed: false, retryAfterS: 4 });
    const fast = new RateLimiter({ perSecond: 1000, burst: 1 }, { now: clock });
    fast.take('k');
    expect(fast.take('k')).toEqual({ allowed: false, retryAfterS: 1 });
  });

  it('keeps a bucket per key', () => {
    const sut = new RateLimiter({ perSecond: 1, burst: 1 }, { now: clock });
    expect(sut.take('a').allowed).toBe(true);
    expect(sut.take('a').allowed).toBe(false);
    expect(sut.take('b').allowed).toBe(true);
  });

  it('refills no further than the burst', () => {
    const sut = new RateLimiter({ perSecond: 10, burst: 2 }, { now: clock });
    sut.take('k');
    now += 3_600_000;
    expect([1, 2, 3].map(() => sut.take('k').allowed)).toEqual([true, true, false]);
  });

  it('peeks without taking', () => {
    const sut = new RateLimiter({ perSecond: 1, burst: 1 }, { now: clock });
    expect(sut.peek('k').allowed).toBe(true);
    expect(sut.peek('k').allowed).toBe(true);
    sut.take('k');
    expect(sut.peek('k')).toEqual({ allowed: false, retryAfterS: 1 });
  });

  it.each([
    { perSecond: 0, burst: 10 },
    { perSecond: 10, burst: 0 },
  ])('is disabled by a zero setting (%o)', (limit) => {
    const sut = new RateLimiter(limit, { now: clock });
    expect(sut.enabled).toBe(false);
    for (let i = 0; i < 100; i++) expect(sut.take('k').allowed).toBe(true);
    expect(sut.size).toBe(0);
  });

  it('forgets buckets that have refilled, on the next sweep', () => {
    const sut = new RateLimiter({ perSecond: 1, burst: 5 }, { now: clock, sweepEveryMs: 1000 });
    for (let i = 0; i < 100; i++) sut.take(`idle-${i}`);
    sut.take('busy');
    sut.take('busy');
    sut.take('busy');
    sut.take('busy');
    sut.take('busy');
    expect(sut.size).toBe(101);
    now += 1500;
    sut.take('busy');
    expect(sut.size).toBe(1);
    expect(sut.take('busy').allowed).toBe(false);
  });

  it('holds at most maxKeys buckets, dropping the least recently used', () => {
    const sut = new RateLimiter({ perSecond: 1, burst: 1 }, { now: clock, maxKeys: 3 });
    sut.take('a');
    sut.take('b');
    sut.take('c');
    sut.take('a');
    sut.take('d');
    expect(sut.size).toBe(3);
    // 'b' was dropped (least recently used), so it starts again with a full bucket; 'a' was kept
    expect(sut.take('a').allowed).toBe(false);
    expect(sut.take('b').allowed).toBe(true);
  });
});

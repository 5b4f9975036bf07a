import {
  DEFAULT_RETRY_SCHEDULES,
  formatRetrySchedule,
  nextAttempt,
  parseDuration,
  parseRetrySchedule,
  retryAfterMs,
  type RetrySchedule,
} from './retry-policy';

const S = 1000;
const M = 60 * S;
const H = 60 * M;

describe(nextAttempt.name, () => {
  const schedule: RetrySchedule = { firstDelayMs: 15 * S, maxDelayMs: 10 * M, giveUpAfterMs: H };

  it('backs off exponentially from the first retry, with full jitter between 0 and the backoff', () => {
    const top = (attempt: number) => nextAttempt(attempt, 0, null, schedule, 0, () => 1);
    const bottom = (attempt: number) => nextAttempt(attempt, 0, null, schedule, 0, () => 0);
    expect([1, 2, 3, 4, 5, 6].map((n) => top(n))).toEqual(
      [15 * S, 30 * S, 60 * S, 120 * S, 240 * S, 480 * S].map((delayMs) => ({ kind: 'retry', delayMs })),
    );
    expect(bottom(3)).toEqual({ kind: 'retry', delayMs: 0 });
    expect(nextAttempt(3, 0, null, schedule, 0, () => 0.5)).toEqual({ kind: 'retry', delayMs: 30 * S });
  });

  it('never waits longer than the longest delay, however many attempts', () => {
    for (const attempt of [7, 8, 20, 1000, 5000])
      expect(nextAttempt(attempt, 0, null, schedule, 0, () => 1)).toEqual({ kind: 'retry', delayMs: 10 * M });
  });

  it.each([0, 0.001, 0.25, 0.5, 0.999])('keeps the jittered delay within [0, backoff] (random %p)', (r) => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const next = nextAttempt(attempt, 0, null, schedule, 0, () => r);
      const backoff = Math.min(schedule.maxDelayMs, schedule.firstDelayMs * 2 ** (attempt - 1));
      expect(next.kind).toBe('retry');
      if (next.kind !== 'retry') return;
      expect(next.delayMs).toBeGreaterThanOrEqual(0);
      expect(next.delayMs).toBeLessThanOrEqual(backoff);
    }
  });

  it('honours Retry-After in seconds or as a date, capped at the longest delay, without jitter', () => {
    expect(nextAttempt(1, 0, '7', schedule, 0, () => 0)).toEqual({ kind: 'retry', delayMs: 7 * S });
    expect(nextAttempt(1, 0, '3600', schedule, 0, () => 0)).toEqual({ kind: 'retry', delayMs: 10 * M });
    expect(nextAttempt(1, 0, new Date(90 * S).toUTCString(), schedule, 30 * S, () => 0)).toEqual({
      kind: 'retry',
      delayMs: 60 * S,
    });
    // unreadable: the backoff
    expect(nextAttempt(1, 0, 'soon', schedule, 0, () => 1)).toEqual({ kind: 'retry', delayMs: 15 * S });
  });

  it('gives up once the delivery is older than the schedule allows, whatever the attempt', () => {
    expect(nextAttempt(2, H, null, schedule, 0, () => 1)).toEqual({
      kind: 'give_up',
      error: 'gave up after 1h (2 attempts)',
    });
    expect(nextAttempt(40, H + 1, '1', schedule).kind).toBe('give_up');
    // many attempts but young (an endpoint answering 503 quickly): still retried
    expect(nextAttempt(500, 59 * M, null, schedule, 0, () => 1).kind).toBe('retry');
  });

  it('waits no further than the give-up age, so the last attempt is made at it', () => {
    expect(nextAttempt(10, H - 20 * S, null, schedule, 0, () => 1)).toEqual({
      kind: 'retry',
      delayMs: 20 * S,
    });
    expect(nextAttempt(1, H - 5 * S, '60', schedule, 0, () => 1)).toEqual({ kind: 'retry', delayMs: 5 * S });
  });
});

describe(parseRetrySchedule.name, () => {
  it('reads <first retry>,<longest delay>,<give up after>', () => {
    expect(parseRetrySchedule('15s,10m,1h')).toEqual({
      firstDelayMs: 15 * S,
      maxDelayMs: 10 * M,
      giveUpAfterMs: H,
    });
    expect(parseRetrySchedule(' 200ms , 5s , 2d ')).toEqual({
      firstDelayMs: 200,
      maxDelayMs: 5 * S,
      giveUpAfterMs: 48 * H,
    });
  });

  it.each([
    ['15s,10m', /is not <first retry>,<longest delay>,<give up after>/],
    ['15,10m,1h', /"15" is not a duration/],
    ['15s,10m,1w', /"1w" is not a duration/],
    ['-1s,10m,1h', /"-1s" is not a duration/],
    ['0s,10m,1h', /first retry \(0s\) must be after more than 0/],
    ['1m,30s,1h', /longest delay \(30s\) must not be shorter than the first retry \(1m\)/],
    ['1s,2d,3d', /longest delay \(2d\) must be at most 24h/],
    ['1s,1m,0h', /give up after \(0h\) must be more than 0/],
    ['1s,1m,31d', /give up after \(31d\) must be at most 30d/],
  ])('refuses %p', (raw, problem) => {
    expect(() => parseRetrySchedule(raw)).toThrow(problem);
  });

  it('writes the defaults back as they are documented', () => {
    expect(
      Object.fromEntries(
        Object.entries(DEFAULT_RETRY_SCHEDULES).map(([k, v]) => [k, formatRetrySchedule(v)]),
      ),
    ).toEqual({
      pagerduty: '15s,10m,1h',
      slack: '15s,10m,1h',
      teams: '15s,10m,1h',
      email: '30s,15m,6h',
      webhook: '30s,1h,24h',
    });
  });

  it('reads durations in ms, s, m, h and d', () => {
    expect(['500ms', '15s', '10m', '1h', '2d'].map(parseDuration)).toEqual([500, 15 * S, 10 * M, H, 48 * H]);
  });
});

describe(retryAfterMs.name, () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('3', 0)).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs('soon', 0)).toBeNull();
    expect(retryAfterMs(null, 0)).toBeNull();
  });
});

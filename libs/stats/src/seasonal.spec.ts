import { expectedDay, MIN_SEASONAL_DAYS, tQuantile } from './seasonal';

/** 14 days from a Monday: weekday flags. */
const WEEKS = Array.from({ length: 14 }, (_, i) => i % 7 >= 5);

describe(expectedDay.name, () => {
  it('is the plain mean and sample deviation below the minimum history', () => {
    const e = expectedDay([10, 12, 14], [false, false, false], false);
    expect(e).toEqual({ expected: 12, stddev: 2, factor: 1, trendPerDay: 0 });
    expect(MIN_SEASONAL_DAYS).toBe(7);
  });

  it('holds a weekend day to the weekends and a weekday to the weekdays', () => {
    // $100 on weekdays, $20 on weekends, a little noise
    const days = WEEKS.map((w, i) => (w ? 20 : 100) + (i % 2 ? 1 : -1));
    const weekday = expectedDay(days, WEEKS, false);
    const weekend = expectedDay(days, WEEKS, true);
    // shrunk toward 1 by two pseudo-days: between the truth and the mean (77.1)
    expect(weekday.expected).toBeGreaterThan(82);
    expect(weekday.expected).toBeLessThan(101);
    expect(weekend.expected).toBeGreaterThan(20);
    expect(weekend.expected).toBeLessThan(50);
    expect(weekend.factor).toBeLessThan(1);
    expect(weekday.factor).toBeGreaterThan(1);
  });

  it('takes the rhythm out of the deviation: weekends do not inflate σ', () => {
    const days = WEEKS.map((w, i) => (w ? 20 : 100) + (i % 2 ? 2 : -2));
    const plain = Math.sqrt(
      days.reduce((s, x, _, a) => s + (x - a.reduce((p, y) => p + y, 0) / 14) ** 2, 0) / 13,
    );
    const e = expectedDay(days, WEEKS, false);
    expect(plain).toBeGreaterThan(30);
    expect(e.stddev).toBeLessThan(plain * 0.8);
  });

  it('follows steady growth, and a step above it stays far out', () => {
    // 3% a day, no weekend dip: today's level is about 1.03^14 of the first day's
    const days = Array.from({ length: 14 }, (_, i) => 100 * 1.03 ** i);
    const flat = Array(14).fill(false);
    const e = expectedDay(days, flat, false);
    const mean = days.reduce((a, b) => a + b, 0) / 14;
    expect(e.trendPerDay).toBeGreaterThan(0);
    expect(e.expected).toBeGreaterThan(mean * 1.15);
    expect(e.expected).toBeCloseTo(100 * 1.03 ** 14, -1);
    const z = (2 * e.expected - e.expected) / e.stddev;
    expect(z).toBeGreaterThan(10);
  });

  it('does not follow a falling line, and lifts the level at most 1.5 times the mean', () => {
    const falling = Array.from({ length: 14 }, (_, i) => 200 - 10 * i);
    const flat = Array(14).fill(false);
    const down = expectedDay(falling, flat, false);
    expect(down.expected).toBeCloseTo(falling.reduce((a, b) => a + b, 0) / 14, 6);
    expect(down.trendPerDay).toBe(0);
    const step = [...Array(10).fill(10), 100, 100, 100, 100];
    const up = expectedDay(step, flat, false);
    const mean = step.reduce((a, b) => a + b, 0) / 14;
    expect(up.expected).toBeCloseTo(1.5 * mean, 6);
  });

  it('widens the deviation for a prediction one day past the data', () => {
    const days = WEEKS.map((_, i) => 100 + (i % 2 ? 5 : -5));
    const e = expectedDay(days, Array(14).fill(false), false);
    const residual = Math.sqrt((14 * 25) / 11); // the line fits the mean; 14 residuals of ±5, n - 3
    expect(e.stddev).toBeGreaterThan(residual);
    expect(e.stddev).toBeLessThan(residual * 1.2);
  });

  it('is the mean for an agent that has spent nothing', () => {
    expect(expectedDay(Array(14).fill(0), WEEKS, false)).toEqual({
      expected: 0,
      stddev: 0,
      factor: 1,
      trendPerDay: 0,
    });
  });
});

describe(tQuantile.name, () => {
  it('gives the Student-t quantiles of the normal ones', () => {
    // tables: t(0.975, 10) = 2.228; t(0.995, 30) = 2.750; z = 2.5 is p = 0.99379, between t(0.99, 11) = 2.718 and
    // t(0.995, 11) = 3.106
    expect(tQuantile(1.959964, 10)).toBeCloseTo(2.228, 2);
    expect(tQuantile(2.575829, 30)).toBeCloseTo(2.75, 2);
    expect(tQuantile(2.5, 11)).toBeGreaterThan(2.9);
    expect(tQuantile(2.5, 11)).toBeLessThan(3.05);
  });

  it('is the normal quantile without degrees of freedom to correct for', () => {
    expect(tQuantile(2.5, Infinity)).toBe(2.5);
    expect(tQuantile(2.5, 0)).toBe(2.5);
    expect(tQuantile(2.5, 1e9)).toBeCloseTo(2.5, 6);
  });
});

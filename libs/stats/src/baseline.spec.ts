import { median, moments, zScore } from './baseline';

describe(moments.name, () => {
  it('gives the exact sample mean and standard deviation', () => {
    // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, Σ(x-5)² = 32, sample variance 32/7
    const sut = moments([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(sut.mean).toBe(5);
    expect(sut.stddev).toBeCloseTo(Math.sqrt(32 / 7), 12);
  });

  it('stays exact for large nano-unit amounts where floating sums of squares would not', () => {
    // 14 days around $1,000,000 (1e15 nanos) differing by single nanos: Σx² is ~1.4e31, far past 2^53.
    const days = Array.from({ length: 14 }, (_, i) => 1e15 + (i % 2));
    const sut = moments(days);
    expect(sut.mean).toBe(1e15 + 0.5);
    expect(sut.stddev).toBeCloseTo(Math.sqrt((14 * 0.25) / 13), 9);
  });

  it('is the same in any order', () => {
    const a = moments([5, 1, 9, 3]);
    const b = moments([9, 3, 5, 1]);
    expect(a).toEqual(b);
  });

  it('handles no data and a single day', () => {
    expect(moments([])).toEqual({ n: 0, mean: 0, stddev: 0 });
    expect(moments([7])).toEqual({ n: 1, mean: 7, stddev: 0 });
  });
});

describe(zScore.name, () => {
  it('measures distance above the mean in standard deviations, and refuses to judge with no spread', () => {
    expect(zScore(13, { mean: 5, stddev: 4 })).toBe(2);
    expect(zScore(13, { mean: 5, stddev: 0 })).toBeNull();
  });
});

describe(median.name, () => {
  it('takes the middle value or the mean of the two middle values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});

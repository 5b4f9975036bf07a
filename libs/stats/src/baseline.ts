/**
 * Mean and sample standard deviation of a series of integer amounts, from exact BigInt sums (Σx, Σx²): no drift,
 * however many days roll through, and the same answer in any order.
 */
export interface Moments {
  n: number;
  mean: number;
  stddev: number;
}

export function moments(values: readonly number[]): Moments {
  const n = values.length;
  if (n === 0) return { n: 0, mean: 0, stddev: 0 };
  let sum = 0n;
  let squares = 0n;
  for (const v of values) {
    const b = BigInt(Math.round(v));
    sum += b;
    squares += b * b;
  }
  const bn = BigInt(n);
  const mean = Number(sum / bn) + Number(sum % bn) / n;
  if (n < 2) return { n, mean, stddev: 0 };
  // sample variance = (n Σx² - (Σx)²) / (n (n - 1)), exact in integers until the final division
  const numerator = BigInt(n) * squares - sum * sum;
  const variance = Number(numerator) / (n * (n - 1));
  return { n, mean, stddev: Math.sqrt(Math.max(0, variance)) };
}

/** How many standard deviations `value` lies above `mean`; null when σ is zero (no spread to judge against). */
export function zScore(value: number, m: Pick<Moments, 'mean' | 'stddev'>): number | null {
  return m.stddev > 0 ? (value - m.mean) / m.stddev : null;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

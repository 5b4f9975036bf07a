/**
 * What a day's spend is expected to be from the trailing complete days, knowing the week and the trend:
 *
 * - **Day type.** Days are weekdays (Monday to Friday) or weekend days, in the agent's time zone. Each type has a factor:
 *   its mean over the baseline days against the mean of all of them, shrunk toward 1 by two pseudo-days at the overall
 *   mean (two weekends in 14 days are four days: a factor from them alone would be noise). Two types and not seven:
 *   fourteen days hold each weekday twice, too few to tell Tuesdays from Wednesdays.
 * - **Trend.** The days divided by their factor (the rhythm removed) are fitted with a least-squares line; today's level
 *   is that line one day past the last baseline day. Only growth is followed: a falling line leaves the level at the
 *   mean (a return to the old level is no anomaly), and the level is at most 1.5 times the mean (a step inside the
 *   baseline is not extrapolated into a doubling).
 * - **Spread.** The residuals of that fit, with the fitted parameters' degrees of freedom taken off (n - 3), and the
 *   prediction interval's widening for a point one day past the data (√(1 + 1/n + (t - t̄)²/Σ(tᵢ - t̄)²)), scaled to
 *   today's day type.
 *
 * With fewer than MIN_DAYS days, or no spend, the expectation is the plain mean and sample deviation.
 */
export interface DayExpectation {
  /** Spend expected for the day judged. */
  expected: number;
  /** The deviation of that day's spend around `expected`. */
  stddev: number;
  /** The day type's factor (1 when the rhythm is not used). */
  factor: number;
  /** The trend of the deseasonalised level per day (0 when not followed). */
  trendPerDay: number;
}

/** Fewer days than this and the plain mean and deviation are the expectation (a line through a few points is noise). */
export const MIN_SEASONAL_DAYS = 7;
/** Pseudo-days at the overall mean each day type's factor is shrunk with (four weekend days in 14 count as two-thirds). */
const SHRINK_DAYS = 2;
/** Parameters the expectation fits (level, trend, day-type factor): its deviation has n - 3 degrees of freedom. */
export const SEASONAL_PARAMS = 3;
/** The level is at most this multiple of the mean: a step inside the baseline is not extrapolated into a doubling. */
const MAX_TREND_LIFT = 1.5;

/**
 * `values`: the baseline days' spend, oldest first, consecutive; `weekend[i]` whether day i is a weekend day;
 * `todayWeekend` whether the day judged (the day after the last) is.
 */
export function expectedDay(
  values: readonly number[],
  weekend: readonly boolean[],
  todayWeekend: boolean,
): DayExpectation {
  const n = values.length;
  let sum = 0;
  for (const v of values) sum += v;
  const mean = n > 0 ? sum / n : 0;
  if (n < MIN_SEASONAL_DAYS || mean <= 0) {
    let ss = 0;
    for (const v of values) ss += (v - mean) ** 2;
    return { expected: mean, stddev: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, factor: 1, trendPerDay: 0 };
  }
  // day-type factors, shrunk by SHRINK_DAYS pseudo-days at the mean
  const sums = [0, 0];
  const counts = [0, 0];
  for (let i = 0; i < n; i++) {
    const g = weekend[i] ? 1 : 0;
    sums[g] += values[i];
    counts[g]++;
  }
  const factors = [0, 1].map((g) => (sums[g] + SHRINK_DAYS * mean) / (counts[g] + SHRINK_DAYS) / mean);
  // least squares through the deseasonalised days, t = 0..n-1
  const tMean = (n - 1) / 2;
  let dMean = 0;
  const d = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    d[i] = values[i] / factors[weekend[i] ? 1 : 0];
    dMean += d[i];
  }
  dMean /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (i - tMean) * (d[i] - dMean);
    sxx += (i - tMean) ** 2;
  }
  const slope = sxy / sxx;
  let rss = 0;
  for (let i = 0; i < n; i++) rss += (d[i] - dMean - slope * (i - tMean)) ** 2;
  const sigma = Math.sqrt(rss / (n - SEASONAL_PARAMS));
  const ahead = n - tMean; // today, one day past the last
  const level = Math.min(Math.max(dMean + slope * ahead, dMean), MAX_TREND_LIFT * dMean);
  const widen = Math.sqrt(1 + 1 / n + (ahead * ahead) / sxx);
  const factor = factors[todayWeekend ? 1 : 0];
  return {
    expected: level * factor,
    stddev: sigma * widen * factor,
    factor,
    trendPerDay: level > dMean ? slope : 0,
  };
}

/**
 * The Student-t quantile with `dof` degrees of freedom at the normal quantile `z` (Cornish–Fisher, within 0.5% for
 * dof >= 4 and z <= 4): how many estimated deviations make the same tail as `z` known ones. A deviation estimated from
 * fourteen days is itself uncertain; 2.5σ of it would page 2.5 times as often as 2.5σ of the true one.
 */
export function tQuantile(z: number, dof: number): number {
  if (!(dof > 0) || !Number.isFinite(dof)) return z;
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  return (
    z +
    (z3 + z) / (4 * dof) +
    (5 * z5 + 16 * z3 + 3 * z) / (96 * dof ** 2) +
    (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * dof ** 3)
  );
}

import type { Evaluation } from '../core/anomaly';
import { money, fixed, type AgentDayContext } from '../core/context';
import { SEASONAL_PARAMS, tQuantile } from '@libs/stats';
import type { DetectorSettings } from '@libs/team-settings';

/**
 * Today's spend so far against the expected spend + kσ. The expectation knows the week and the trend (the aggregator's
 * expectedDay over the trailing complete days: a Saturday is held to the agent's weekends, steady growth is followed);
 * with `seasonal` off, or on a record without it, it is the plain mean and deviation of those days. Evaluated on every
 * update, so it fires the moment the line is crossed. The excess over the expectation must also reach an absolute
 * minimum, so a σ near zero or a cents-level blip never pages.
 */
export class SpendZScoreRule {
  readonly name = 'spend_zscore' as const;

  /** `minExcessNanos`: the floor in force (excessFloor: min_excess, or less for a team that spends little). */
  evaluate(
    ctx: AgentDayContext,
    p: DetectorSettings['zscore'],
    minExcessNanos = p.minExcessNanos,
  ): Evaluation | null {
    const { baseline: b, today } = ctx;
    if (b.days < p.minHistoryDays) return null;
    const e = p.seasonal ? b.expected : null;
    const mean = e ? e.spend : b.spendMean;
    const stddev = e ? e.stddev : b.spendStddev;
    // the expectation's deviation is estimated from the baseline days (n - 3 degrees of freedom): kσ of it is read
    // at the tail kσ of a known one has
    const k = e ? tQuantile(p.threshold, b.days - SEASONAL_PARAMS) : p.threshold;
    const margin = Math.max(k * stddev, minExcessNanos);
    const line = mean + margin;
    const base = {
      rule: this.name,
      team: ctx.team,
      agentId: ctx.agentId,
      subject: '',
      windowStart: today.start,
      windowEnd: today.end,
    };
    if (today.spendNanos <= line) return { ...base, finding: null };
    const z = stddev > 0 ? (today.spendNanos - mean) / stddev : null;
    const severity = today.spendNanos >= mean + 2 * margin ? 'critical' : 'error';
    const against = e
      ? `its expected ${money(mean, ctx.currency)} for ${e.factor === 1 ? 'a day' : 'the day of the week'} ` +
        `(${b.days}-day baseline with its weekly rhythm${e.trendPerDay > 0 ? ' and growth' : ''})`
      : `its ${b.days}-day mean of ${money(mean, ctx.currency)}/day`;
    return {
      ...base,
      finding: {
        severity,
        observed: today.spendNanos / 1e9,
        threshold: line / 1e9,
        baselineMean: mean / 1e9,
        baselineStddev: stddev / 1e9,
        zscore: z,
        summary:
          `${ctx.agentId} has spent ${money(today.spendNanos, ctx.currency)} today, ` +
          `${z === null ? 'far' : `${fixed(z)}σ`} above ${against} (threshold ${money(line, ctx.currency)}).`,
        details: {
          unit: ctx.currency,
          runs_today: String(today.runs),
          history_days: String(b.days),
          ...(e && {
            baseline_plain_mean: String(b.spendMean / 1e9),
            day_factor: fixed(e.factor, 3),
            trend_per_day: String(e.trendPerDay / 1e9),
          }),
        },
      },
    };
  }
}

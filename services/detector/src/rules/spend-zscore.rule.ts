import type { Evaluation } from '../core/anomaly';
import { money, fixed, type AgentDayContext } from '../core/context';
import type { DetectorSettings } from '@libs/team-settings';

/**
 * Today's spend so far against mean + kσ of the trailing complete days. Evaluated on every update, so it fires the
 * moment the line is crossed. The excess over the mean must also reach an absolute minimum, so a σ near zero or a
 * cents-level blip never pages.
 */
export class SpendZScoreRule {
  readonly name = 'spend_zscore' as const;

  evaluate(ctx: AgentDayContext, p: DetectorSettings['zscore']): Evaluation | null {
    const { baseline: b, today } = ctx;
    if (b.days < p.minHistoryDays) return null;
    const margin = Math.max(p.threshold * b.spendStddev, p.minExcessNanos);
    const line = b.spendMean + margin;
    const base = {
      rule: this.name,
      team: ctx.team,
      agentId: ctx.agentId,
      subject: '',
      windowStart: today.start,
      windowEnd: today.end,
    };
    if (today.spendNanos <= line) return { ...base, finding: null };
    const z = b.spendStddev > 0 ? (today.spendNanos - b.spendMean) / b.spendStddev : null;
    const severity = today.spendNanos >= b.spendMean + 2 * margin ? 'critical' : 'error';
    return {
      ...base,
      finding: {
        severity,
        observed: today.spendNanos / 1e9,
        threshold: line / 1e9,
        baselineMean: b.spendMean / 1e9,
        baselineStddev: b.spendStddev / 1e9,
        zscore: z,
        summary:
          `${ctx.agentId} has spent ${money(today.spendNanos, ctx.currency)} today, ` +
          `${z === null ? 'far' : `${fixed(z)}σ`} above its ${b.days}-day mean of ${money(b.spendMean, ctx.currency)}/day ` +
          `(threshold ${money(line, ctx.currency)}).`,
        details: { unit: ctx.currency, runs_today: String(today.runs), history_days: String(b.days) },
      },
    };
  }
}

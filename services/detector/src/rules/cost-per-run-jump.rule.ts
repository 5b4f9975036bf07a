import type { Evaluation } from '../core/anomaly';
import { money, fixed, type AgentDayContext } from '../core/context';
import type { DetectorSettings } from '@libs/team-settings';

/** Between this share of the threshold and the threshold, an open anomaly neither resolves nor a new one fires. */
export const HYSTERESIS = 0.8;

/**
 * Cost per run over the agent's most recent runs against its baseline cost per run: a model swap (haiku -> opus is
 * ×12) or a context blow-up shows within a handful of runs. The jump must also be worth money at the agent's usual
 * daily volume, so a cheap agent's noise never pages.
 */
export class CostPerRunJumpRule {
  readonly name = 'cost_per_run_jump' as const;

  evaluate(
    ctx: AgentDayContext,
    p: DetectorSettings['costPerRun'],
    minExcessNanos: number,
  ): Evaluation | null {
    const { baseline: b, recentCostPerRun: recent } = ctx;
    if (b.days < p.minHistoryDays || !b.costPerRunMean || !recent || recent.runs < p.minRecentRuns)
      return null;
    const base = {
      rule: this.name,
      team: ctx.team,
      agentId: ctx.agentId,
      subject: '',
      windowStart: ctx.today.start,
      windowEnd: ctx.today.end,
    };
    const ratio = recent.nanos / b.costPerRunMean;
    const dailyRuns = Math.max(b.spendMean / b.costPerRunMean, ctx.today.runs);
    const extraPerDay = (recent.nanos - b.costPerRunMean) * dailyRuns;
    if (ratio < HYSTERESIS * p.ratio) return { ...base, finding: null };
    if (ratio < p.ratio || extraPerDay < minExcessNanos) return null;
    return {
      ...base,
      finding: {
        severity: ratio >= 3 * p.ratio ? 'critical' : 'error',
        observed: recent.nanos / 1e9,
        threshold: (p.ratio * b.costPerRunMean) / 1e9,
        baselineMean: b.costPerRunMean / 1e9,
        costPerRunBeforeNanos: Math.round(b.costPerRunMean),
        costPerRunNowNanos: Math.round(recent.nanos),
        summary:
          `${ctx.agentId} costs ${money(recent.nanos, ctx.currency)} per run over its last ${recent.runs} runs, ` +
          `${fixed(ratio)}× its ${b.days}-day norm of ${money(b.costPerRunMean, ctx.currency)} ` +
          `(a model swap or context blow-up; about ${money(extraPerDay, ctx.currency)} extra a day at this rate).`,
        details: { unit: `${ctx.currency}/run`, ratio: fixed(ratio, 2), recent_runs: String(recent.runs) },
      },
    };
  }
}

import type { Evaluation } from '../core/anomaly';
import { money, fixed, type AgentDayContext } from '../core/context';
import type { DetectorSettings } from '@libs/team-settings';
import { HYSTERESIS } from './cost-per-run-jump.rule';

/**
 * Cost per successful run climbing while cost per run stays flat: the agent is failing or retrying more, which a
 * plain cost-per-run average hides inside itself.
 */
export class CostPerSuccessClimbRule {
  readonly name = 'cost_per_success_climb' as const;

  evaluate(
    ctx: AgentDayContext,
    p: DetectorSettings['costPerSuccess'],
    minExcessNanos: number,
  ): Evaluation | null {
    const { baseline: b, today } = ctx;
    if (
      b.days < p.minHistoryDays ||
      !b.costPerSuccessMean ||
      !b.costPerRunMean ||
      today.runs < p.minRunsToday
    )
      return null;
    const base = {
      rule: this.name,
      team: ctx.team,
      agentId: ctx.agentId,
      subject: '',
      windowStart: today.start,
      windowEnd: today.end,
    };
    const perRun = today.spendNanos / today.runs;
    const perSuccess = today.spendNanos / Math.max(today.successful, 1);
    const ratio = perSuccess / b.costPerSuccessMean;
    const flat = perRun <= p.flatCostPerRunRatio * b.costPerRunMean;
    const wasted = today.spendNanos - today.successful * b.costPerSuccessMean;
    if (ratio < 1 + HYSTERESIS * (p.ratio - 1)) return { ...base, finding: null };
    if (ratio < p.ratio || !flat || wasted < minExcessNanos) return null;
    const successRate = today.successful / today.runs;
    return {
      ...base,
      finding: {
        severity: ratio >= 2 * p.ratio ? 'error' : 'warning',
        observed: perSuccess / 1e9,
        threshold: (p.ratio * b.costPerSuccessMean) / 1e9,
        baselineMean: b.costPerSuccessMean / 1e9,
        costPerRunBeforeNanos: Math.round(b.costPerRunMean),
        costPerRunNowNanos: Math.round(perRun),
        summary:
          `${ctx.agentId} costs ${money(perSuccess, ctx.currency)} per successful run today, ${fixed(ratio)}× its norm ` +
          `of ${money(b.costPerSuccessMean, ctx.currency)}, while cost per run is flat: only ` +
          `${fixed(successRate * 100, 0)}% of its ${today.runs} runs succeed (failing or retrying more).`,
        details: {
          unit: `${ctx.currency}/successful run`,
          success_rate: fixed(successRate, 3),
          runs_today: String(today.runs),
        },
      },
    };
  }
}

import type { Evaluation } from '../core/anomaly';
import { money, fixed, monthFrame, type AgentDayContext } from '../core/context';
import { HYSTERESIS } from './cost-per-run-jump.rule';
import type { DetectorSettings } from '@libs/team-settings';

/**
 * Prompt creep: no single day jumps, but cost per run has grown well past what it was a few weeks ago. Compares the
 * cost per run of yesterday and today with the oldest days of the ledger (a slow signal needs no intraday noise); a
 * sudden jump is left to CostPerRunJumpRule. Pages at most once a month per agent (the window is the month).
 */
export class CostPerRunDriftRule {
  readonly name = 'cost_per_run_drift' as const;

  evaluate(
    ctx: AgentDayContext,
    p: DetectorSettings['costPerRunDrift'],
    jumpRatio: number,
    timezone: string,
    historyDays: number,
  ): Evaluation | null {
    const ref = ctx.referenceCostPerRun;
    const { today } = ctx;
    const runs = today.runs + (ctx.yesterday?.runs ?? 0);
    const spend = today.spendNanos + (ctx.yesterday?.spendNanos ?? 0);
    if (!ref || historyDays < p.minHistoryDays || runs < p.minRuns || ref.nanos <= 0) return null;
    const base = monthFrame(this.name, ctx, timezone);
    const now = spend / runs;
    const ratio = now / ref.nanos;
    const sudden = ctx.baseline.costPerRunMean !== null && now >= jumpRatio * ctx.baseline.costPerRunMean;
    if (ratio < 1 + HYSTERESIS * (p.ratio - 1)) return { ...base, finding: null };
    if (ratio < p.ratio || sudden) return null;
    return {
      ...base,
      finding: {
        severity: ratio >= 2 ? 'error' : 'warning',
        observed: now / 1e9,
        threshold: (p.ratio * ref.nanos) / 1e9,
        baselineMean: ref.nanos / 1e9,
        costPerRunBeforeNanos: Math.round(ref.nanos),
        costPerRunNowNanos: Math.round(now),
        summary:
          `${ctx.agentId}'s cost per run has crept to ${money(now, ctx.currency)}, ${fixed(ratio, 2)}× the ` +
          `${money(ref.nanos, ctx.currency)} it cost ${historyDays} days ago (prompt or context growth).`,
        details: { unit: `${ctx.currency}/run`, ratio: fixed(ratio, 2), reference_days: String(ref.days) },
      },
    };
  }
}

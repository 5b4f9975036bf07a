import type { Evaluation } from '../core/anomaly';
import { money, fixed, type AgentDayContext } from '../core/context';
import type { DetectorSettings } from '@libs/team-settings';
import { HYSTERESIS } from './cost-per-run-jump.rule';

/**
 * Spend without a customer_id: a cron or backfill job that forgot to tag. Fires when today's untagged spend is both a
 * large share and a real amount, and well above what is usual for this agent (agents that never tag are not news).
 */
export class UnattributedSpendRule {
  readonly name = 'unattributed_spend' as const;

  evaluate(ctx: AgentDayContext, p: DetectorSettings['unattributed']): Evaluation | null {
    const { today, baseline: b } = ctx;
    if (today.spendNanos <= 0) return null;
    const base = {
      rule: this.name,
      team: ctx.team,
      agentId: ctx.agentId,
      subject: '',
      windowStart: today.start,
      windowEnd: today.end,
    };
    const share = today.unattributedNanos / today.spendNanos;
    const usual = b.days > 0 ? p.historyMultiple * b.unattributedMean : 0;
    const line = Math.max(p.minAmountNanos, usual);
    if (share < HYSTERESIS * p.share) return { ...base, finding: null };
    if (share < p.share || today.unattributedNanos < line) return null;
    return {
      ...base,
      finding: {
        severity: today.unattributedNanos >= 10 * line ? 'error' : 'warning',
        observed: today.unattributedNanos / 1e9,
        threshold: line / 1e9,
        baselineMean: b.days > 0 ? b.unattributedMean / 1e9 : null,
        summary:
          `${money(today.unattributedNanos, ctx.currency)} of ${ctx.agentId}'s spend today ` +
          `(${fixed(share * 100, 0)}%) has no customer_id; usually ${money(b.unattributedMean, ctx.currency)}/day ` +
          `(a job that forgot to tag its runs?).`,
        details: {
          unit: ctx.currency,
          share: fixed(share, 3),
          spend_today: money(today.spendNanos, ctx.currency),
        },
      },
    };
  }
}

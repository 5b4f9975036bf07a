import type { Evaluation, Severity } from '../core/anomaly';
import { money, fixed } from '../core/context';
import type { Budget } from '@libs/team-settings';

export interface BudgetInput {
  team: string;
  /** The agent the budget is about (agent scope), else null. */
  agentId: string | null;
  budget: Budget;
  windowStart: number;
  windowEnd: number;
  spentNanos: number;
  currency: string;
}

export const BUDGET_LEVELS: readonly { share: number; severity: Severity }[] = [
  { share: 1, severity: 'critical' },
  { share: 0.8, severity: 'error' },
  { share: 0.5, severity: 'warning' },
];

/** 50%, 80% and 100% of a daily or monthly budget: one anomaly per budget and period, escalating level by level. */
export class BudgetRule {
  readonly name = 'budget' as const;

  evaluate(input: BudgetInput): Evaluation | null {
    const { budget: b } = input;
    if (b.currency !== input.currency || b.amountNanos <= 0) return null;
    const base = {
      rule: this.name,
      team: input.team,
      agentId: input.agentId,
      subject: `${b.scope}:${b.subject}:${b.period}`,
      windowStart: input.windowStart,
      windowEnd: input.windowEnd,
    };
    const share = input.spentNanos / b.amountNanos;
    const level = BUDGET_LEVELS.find((l) => share >= l.share);
    if (!level) return { ...base, finding: null };
    const who = b.scope === 'team' ? `team ${input.team}` : `${b.scope} ${b.subject}`;
    return {
      ...base,
      finding: {
        severity: level.severity,
        observed: input.spentNanos / 1e9,
        threshold: (level.share * b.amountNanos) / 1e9,
        summary:
          `${who} has spent ${money(input.spentNanos, input.currency)} this ${b.period}, ` +
          `${fixed(share * 100, 0)}% of its ${money(b.amountNanos, b.currency)} ${b.period === 'day' ? 'daily' : 'monthly'} budget.`,
        details: {
          unit: input.currency,
          scope: b.scope,
          subject: b.subject,
          period: b.period,
          budget: money(b.amountNanos, b.currency),
          level_percent: String(level.share * 100),
        },
      },
    };
  }
}

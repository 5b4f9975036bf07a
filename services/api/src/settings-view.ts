import type { FieldError } from '@libs/contracts';
import { rulesView, type Budget, type DetectorSettings } from '@libs/team-settings';
import type { TeamSettingsBody } from './body-schemas';
import { invalidBody, money } from './http';

/**
 * The budgets of a settings body as the settings hold them: one per scope, subject and period. `path` names the body
 * field in error messages (`budgets`, or `settings.budgets` inside a backtest).
 */
export function budgetsOf(budgets: NonNullable<TeamSettingsBody['budgets']>, path = 'budgets'): Budget[] {
  const seen = new Map<string, number>();
  const problems: FieldError[] = [];
  const out = budgets.map((b, i): Budget => {
    const subject = b.scope === 'agent' ? b.agent_id : b.scope === 'customer' ? b.customer_id : '';
    const key = JSON.stringify([b.scope, subject, b.period]);
    const first = seen.get(key);
    if (first !== undefined)
      problems.push({
        field: `${path}[${i}]`,
        message: `repeats ${path}[${first}]: one budget per scope, subject and period`,
      });
    else seen.set(key, i);
    return {
      scope: b.scope,
      subject,
      period: b.period,
      amountNanos: Math.round(b.amount * 1e9),
      currency: b.currency,
    };
  });
  if (problems.length) throw invalidBody(problems);
  return out;
}

/** A team's settings as GET /v1/teams/:team/settings shows them. */
export function settingsView(team: string, s: DetectorSettings) {
  return {
    team,
    zscore_threshold: s.zscore.threshold,
    baseline_days: s.zscore.baselineDays,
    min_history_days: s.zscore.minHistoryDays,
    timezone: s.timezone,
    quality_threshold: s.qualityThreshold,
    budgets: s.budgets.map((b) => ({
      scope: b.scope,
      ...(b.scope === 'agent'
        ? { agent_id: b.subject }
        : b.scope === 'customer'
          ? { customer_id: b.subject }
          : {}),
      period: b.period,
      amount: money(b.amountNanos, b.currency),
    })),
    /** Every tunable rule's parameters in force (stored or default), money floors in currency units. */
    rules: rulesView(s),
  };
}

import type { FieldError } from '@libs/contracts';
import {
  TEAM_RULES,
  rulesView,
  guardRuleProblems,
  toApiUnits,
  type AgentOverrides,
  type GuardRule,
  type Budget,
  type DetectorSettings,
} from '@libs/team-settings';
import type { AgentSettingsBody, TeamSettingsBody } from './body-schemas';
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
      ...(b.block_at_100 === true && { blockAt100: true }),
    };
  });
  if (problems.length) throw invalidBody(problems);
  return out;
}

/** The guard rules of a settings body, their ids unique (a 400 naming the repeated one otherwise). */
export function guardRulesOf(
  guard: NonNullable<TeamSettingsBody['guard']>,
  path = 'guard.rules',
): GuardRule[] {
  const problems = guardRuleProblems(guard.rules, path);
  if (problems.length) throw invalidBody(problems);
  return guard.rules;
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
    late_after_minutes: s.lateAfterMs / 60_000,
    budgets: s.budgets.map((b) => ({
      scope: b.scope,
      ...(b.scope === 'agent'
        ? { agent_id: b.subject }
        : b.scope === 'customer'
          ? { customer_id: b.subject }
          : {}),
      period: b.period,
      amount: money(b.amountNanos, b.currency),
      block_at_100: b.blockAt100 === true,
    })),
    /** The guard rules in force, as the PUT body gives them. */
    guard: { rules: s.guard.rules },
    /** Every tunable rule's parameters in force (stored or default), money floors in currency units. */
    rules: rulesView(s),
  };
}

/** What an agent overrides, in api units and shaped as the PUT body that sets it: only what is set. */
export function agentOverridesView(o: AgentOverrides | null): AgentSettingsBody {
  if (!o) return {};
  const rules: Record<string, Record<string, number | boolean>> = {};
  for (const [name, rule] of Object.entries(TEAM_RULES)) {
    const values = o.rules[rule.settings];
    if (!values) continue;
    for (const [key, p] of Object.entries(rule.params))
      if (Object.hasOwn(values, p.field)) (rules[name] ??= {})[key] = toApiUnits(p, values[p.field]);
  }
  return {
    ...(o.zscoreThreshold !== undefined && { zscore_threshold: o.zscoreThreshold }),
    ...(o.baselineDays !== undefined && { baseline_days: o.baselineDays }),
    ...(o.minHistoryDays !== undefined && { min_history_days: o.minHistoryDays }),
    ...(Object.keys(rules).length > 0 && { rules }),
  };
}

/** An agent's settings as GET /v1/teams/:team/agents/:agent_id/settings shows them. */
export function agentSettingsView(
  team: string,
  agentId: string,
  overrides: AgentOverrides | null,
  effective: DetectorSettings,
) {
  const { budgets: _budgets, guard: _guard, ...inForce } = settingsView(team, effective);
  return { team, agent_id: agentId, overrides: agentOverridesView(overrides), effective: inForce };
}

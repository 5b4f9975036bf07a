import { globMatch } from '@libs/alerting';
import { isPlainObject, type SettingsLogger } from './stored-values';

export type GuardMetric = 'cost' | 'runs' | 'tool_calls';
export type GuardAction = 'block' | 'alert';

/**
 * One guard rule of a team: when an agent matching `match` goes over `limit` within a sliding window of its runs'
 * event time, the detector blocks it (publishes an AgentControl) or only alerts. `amount` is in the metric's unit:
 * currency units for cost (the team's currency), runs for runs, runs with a tool for tool_calls.
 */
export interface GuardRule {
  id: string;
  action: GuardAction;
  match: {
    /** An agent_id, or a glob (`research-*`) as an alert route's match.agent_id; absent: every agent of the team. */
    agent?: string;
    /** Only runs with this tool count; absent: every run. */
    tool?: string;
    /** Only runs for this customer count; absent: every run. */
    customer?: string;
  };
  limit: { metric: GuardMetric; amount: number; window_s: number };
}

export const GUARD_LIMITS = {
  rules: 50,
  idLength: 64,
  windowS: { min: 1, max: 86_400 },
  /** Cost in currency units, runs and tool calls alike. */
  amount: { max: 1e12 },
  glob: 256,
  dimension: 256,
} as const;

export const GUARD_METRICS: readonly GuardMetric[] = ['cost', 'runs', 'tool_calls'];
export const GUARD_ACTIONS: readonly GuardAction[] = ['block', 'alert'];
export const GUARD_ID = '^[A-Za-z0-9._:-]{1,64}$';

/** Whether the rule's match.agent (an agent_id or a glob) takes this agent. */
export function guardMatchesAgent(rule: GuardRule, agentId: string): boolean {
  return rule.match.agent === undefined || globMatch(rule.match.agent, agentId);
}

/** Whether one run counts in the rule's window (its customer and tool filters), as the aggregator applies them. */
export function guardCountsRun(
  rule: GuardRule,
  run: { customer_id?: string | null; tool?: string | null },
): boolean {
  return (
    (rule.match.customer === undefined || run.customer_id === rule.match.customer) &&
    (rule.match.tool === undefined || run.tool === rule.match.tool)
  );
}

/**
 * The problems of a list of guard rules beyond their schema: ids must be unique. Each names its field
 * (`guard.rules[3].id`), in the style of a body's 400.
 */
export function guardRuleProblems(
  rules: readonly GuardRule[],
  path = 'guard.rules',
): { field: string; message: string }[] {
  const seen = new Map<string, number>();
  const out: { field: string; message: string }[] = [];
  rules.forEach((r, i) => {
    const first = seen.get(r.id);
    if (first !== undefined)
      out.push({ field: `${path}[${i}].id`, message: `repeats ${path}[${first}].id: rule ids are unique` });
    else seen.set(r.id, i);
  });
  return out;
}

/** A stored rule as the api could have written it, or null. Stored data is never trusted to have the right shape. */
export function storedGuardRule(v: unknown): GuardRule | null {
  if (!isPlainObject(v) || !isPlainObject(v.match) || !isPlainObject(v.limit)) return null;
  const { id, action, match, limit } = v as {
    id: unknown;
    action: unknown;
    match: Record<string, unknown>;
    limit: Record<string, unknown>;
  };
  const L = GUARD_LIMITS;
  const optional = (x: unknown, max: number) =>
    x === undefined || (typeof x === 'string' && x.length > 0 && x.length <= max);
  if (
    typeof id !== 'string' ||
    !new RegExp(GUARD_ID).test(id) ||
    !GUARD_ACTIONS.includes(action as GuardAction) ||
    !optional(match.agent, L.glob) ||
    !optional(match.tool, L.dimension) ||
    !optional(match.customer, L.dimension) ||
    !GUARD_METRICS.includes(limit.metric as GuardMetric) ||
    typeof limit.amount !== 'number' ||
    !(limit.amount > 0 && limit.amount <= L.amount.max) ||
    typeof limit.window_s !== 'number' ||
    !Number.isInteger(limit.window_s) ||
    limit.window_s < L.windowS.min ||
    limit.window_s > L.windowS.max
  )
    return null;
  return {
    id,
    action: action as GuardAction,
    match: {
      ...(match.agent !== undefined && { agent: match.agent as string }),
      ...(match.tool !== undefined && { tool: match.tool as string }),
      ...(match.customer !== undefined && { customer: match.customer as string }),
    },
    limit: { metric: limit.metric as GuardMetric, amount: limit.amount, window_s: limit.window_s },
  };
}

/** The guard rules of stored JSON, each checked; one that is not valid (or repeats an id) is left out and logged. */
export function storedGuardRules(stored: unknown, team: string, logger: SettingsLogger): GuardRule[] {
  if (stored === undefined || stored === null) return [];
  const list = isPlainObject(stored) && Array.isArray(stored.rules) ? (stored.rules as unknown[]) : null;
  if (!list) {
    logger.warn('stored guard settings are invalid; no guard rules', { team });
    return [];
  }
  const out: GuardRule[] = [];
  const ids = new Set<string>();
  for (const [i, v] of list.slice(0, GUARD_LIMITS.rules).entries()) {
    const rule = storedGuardRule(v);
    if (!rule || ids.has(rule.id)) {
      logger.warn('stored guard rule is invalid; left out', {
        team,
        setting: `guard.rules[${i}]`,
        value: JSON.stringify(v).slice(0, 100),
      });
      continue;
    }
    ids.add(rule.id);
    out.push(rule);
  }
  return out;
}

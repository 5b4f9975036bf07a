import { controlKey, type AgentControl, type AgentStats } from '@libs/contracts';
import { guardMatchesAgent, type Budget, type DetectorSettings, type GuardRule } from '@libs/team-settings';
import { dedupeKey as dedupeKeyOf, type Anomaly, type Evaluation } from './anomaly';
import { money } from './context';

/**
 * A guard decision this detector owns, kept with its subject's state (an agent's incidents, a team's ledger) so that
 * it survives restarts through the same changelog: in force from `since` until `until` (epoch ms; the wall clock
 * decides when it has passed, as it does for GET /v1/guard). `control` is what was published on agent-controls (null
 * for an alert, which publishes none); `dedupeKey` the anomaly that reports it.
 */
export interface GuardHold {
  action: 'block' | 'alert';
  source: 'rule' | 'budget';
  /** The guard rule's id, or the budget's (budgetId). */
  sourceId: string;
  since: number;
  until: number;
  dedupeKey: string;
  control: AgentControl | null;
}

/** A record for burnrate.agent-controls.v1: the decision, or null (a tombstone) once it is lifted. */
export interface ControlRecord {
  key: string;
  value: AgentControl | null;
}

/** How much later a still-crossed window must push `until` before the block is published again (compaction keeps one). */
const REPUBLISH_SHARE = 0.1;

const unitOf = (metric: GuardRule['limit']['metric'], currency: string): string =>
  metric === 'cost' ? currency : metric === 'runs' ? 'runs' : 'tool calls';

/** An amount of a metric in words: "$2.50 of spend", "6 runs", "12 tool calls". */
const figure = (metric: GuardRule['limit']['metric'], v: number, currency: string): string =>
  metric === 'cost'
    ? `${money(Math.round(v * 1e9), currency)} of spend`
    : `${Math.round(v * 1000) / 1000} ${metric === 'runs' ? 'runs' : 'tool calls'}`;

/** The reason of a rule's decision: which rule, which metric, what was observed against what limit, since when. */
export function ruleReason(
  rule: GuardRule,
  agentId: string,
  observed: number,
  currency: string,
  since: number,
): string {
  const { metric, amount, window_s } = rule.limit;
  const scope = [
    rule.match.customer !== undefined && `customer ${rule.match.customer}`,
    rule.match.tool !== undefined && `tool ${rule.match.tool}`,
  ].filter(Boolean);
  return (
    `Guard rule ${rule.id}: agent ${agentId} reached ${figure(metric, observed, currency)}` +
    `${scope.length ? ` (${scope.join(', ')})` : ''} within ${window_s} s, over its limit of ` +
    `${figure(metric, amount, currency)}, since ${new Date(since).toISOString()}.`
  );
}

/** The id a budget has in control keys and anomaly subjects: its scope, subject and period (one budget each). */
export const budgetId = (b: Pick<Budget, 'scope' | 'subject' | 'period'>): string =>
  `${b.scope}:${b.subject}:${b.period}`;

/**
 * The guard rules of an agent's team, judged on one of its agent-stats records: per rule whose match.agent takes the
 * agent, its window (the aggregator's) against the limit. A window over its limit opens a hold (a block publishes an
 * AgentControl), or, still over, pushes its `until` later (the window ends `window_s` after the latest run counted);
 * an alert's hold clears as soon as its window is back within the limit; a block's stays until `until`. Returns the
 * evaluations for the anomaly tracker (one per open hold, keyed by the rule and the hold's since) and the control
 * records to publish; `holds` is changed in place.
 */
export function judgeGuard(
  s: AgentStats,
  rules: readonly GuardRule[],
  holds: Record<string, GuardHold>,
  now: number,
): { evals: Evaluation[]; controls: ControlRecord[] } {
  const evals: Evaluation[] = [];
  const controls: ControlRecord[] = [];
  const at = s.signals?.last_run_at ?? s.stream_time;
  for (const rule of rules) {
    if (!guardMatchesAgent(rule, s.agent_id)) continue;
    const key = controlKey.rule(rule.id, s.team, s.agent_id);
    const w = s.guard?.find((g) => g.rule_id === rule.id);
    const observed =
      w && w.metric === rule.limit.metric && w.window_s === rule.limit.window_s ? w.observed : 0;
    let hold = holds[key];
    const over = observed > rule.limit.amount;
    if (!over) {
      // an alert clears with its window; a block lasts until its until (the sweep lifts it)
      if (hold?.action === 'alert') {
        evals.push(frame(rule, s, hold, null));
        delete holds[key];
      }
      continue;
    }
    const until = at + rule.limit.window_s * 1000;
    if (until <= now && !hold) continue; // history: the window has slid past already
    const frameOf = (h: GuardHold) =>
      frame(rule, s, h, {
        severity: rule.action === 'block' ? 'critical' : 'warning',
        observed,
        threshold: rule.limit.amount,
        summary: ruleReason(rule, s.agent_id, observed, s.currency, h.since),
        details: {
          action: rule.action,
          rule_id: rule.id,
          metric: rule.limit.metric,
          window_s: String(rule.limit.window_s),
          unit: unitOf(rule.limit.metric, s.currency),
          control_key: key,
          until: new Date(h.until).toISOString(),
        },
      });
    if (!hold) {
      hold = holds[key] = {
        action: rule.action,
        source: 'rule',
        sourceId: rule.id,
        since: at,
        until,
        dedupeKey: '',
        control: null,
      };
      const e = frameOf(hold);
      hold.dedupeKey = dedupeKeyOf(e);
      evals.push(e);
      if (rule.action === 'block') controls.push(publish(hold, ruleControl(rule, s, hold, observed)));
      continue;
    }
    const minStep = Math.max(1000, rule.limit.window_s * 1000 * REPUBLISH_SHARE);
    if (until > hold.until) {
      const republish = hold.control !== null && until - hold.control.until! >= minStep;
      hold.until = until;
      if (republish) controls.push(publish(hold, ruleControl(rule, s, hold, observed)));
    }
    evals.push(frameOf(hold));
  }
  return { evals, controls };
}

/**
 * Whether the settings still make the decision: its guard rule is there with the same action, or its budget is there
 * and blocks at 100%. One that does not (the team removed the rule, or turned block_at_100 off) is lifted at once.
 */
export function holdStands(h: GuardHold, settings: DetectorSettings): boolean {
  return h.source === 'rule'
    ? settings.guard.rules.some((r) => r.id === h.sourceId && r.action === h.action)
    : settings.budgets.some((b) => b.blockAt100 === true && budgetId(b) === h.sourceId);
}

/** Whether any of the holds is due: its `until` has passed by `now` (wall clock), or the settings no longer make it. */
export function anyDue(holds: Record<string, GuardHold>, now: number, settings: DetectorSettings): boolean {
  return Object.values(holds).some((h) => h.until <= now || !holdStands(h, settings));
}

/** The holds due by `now` (see anyDue), removed from `holds`: each to lift. */
export function dueHolds(
  holds: Record<string, GuardHold>,
  now: number,
  settings: DetectorSettings,
): [string, GuardHold][] {
  const due = Object.entries(holds).filter(([, h]) => h.until <= now || !holdStands(h, settings));
  for (const [key] of due) delete holds[key];
  return due;
}

/**
 * A budget at 100% (its anomaly firing or escalated to critical) with block_at_100: a hold on its scope until its
 * period ends, and its AgentControl. Null when the budget does not block, the period is over by `now`, or a hold is
 * already in force for it.
 */
export function budgetHold(
  a: Anomaly,
  budgets: readonly Budget[],
  holds: Record<string, GuardHold>,
  now: number,
): ControlRecord | null {
  if (a.rule !== 'budget' || a.state === 'resolved' || a.severity !== 'critical' || a.late) return null;
  const b = budgets.find(
    (x) =>
      x.blockAt100 === true &&
      x.scope === a.details.scope &&
      x.subject === a.details.subject &&
      x.period === a.details.period,
  );
  if (!b || a.window_end <= now) return null;
  const key = controlKey.budget(budgetId(b), a.team);
  if (holds[key]) return null;
  const hold: GuardHold = {
    action: 'block',
    source: 'budget',
    sourceId: budgetId(b),
    since: a.detected_at,
    until: a.window_end,
    dedupeKey: a.dedupe_key,
    control: null,
  };
  holds[key] = hold;
  return publish(hold, {
    team: a.team,
    agent_id: b.scope === 'agent' ? b.subject : null,
    customer_id: b.scope === 'customer' ? b.subject : null,
    tool: null,
    action: 'block',
    source: 'budget',
    source_id: budgetId(b),
    reason:
      `Budget ${budgetId(b)} is spent: ${a.summary.replace(/\.$/, '')}; blocked (block_at_100) until the ` +
      `${b.period} ends at ${new Date(a.window_end).toISOString()}.`,
    metric: 'cost',
    amount: b.amountNanos / 1e9,
    observed: a.observed,
    window_s: null,
    currency: b.currency,
    since: a.detected_at,
    until: a.window_end,
    actor: null,
    incident_dedupe_key: a.dedupe_key,
  });
}

function publish(hold: GuardHold, control: AgentControl): ControlRecord {
  hold.control = control;
  return { key: keyOf(control), value: control };
}

const keyOf = (c: AgentControl): string =>
  c.source === 'rule'
    ? controlKey.rule(c.source_id, c.team, c.agent_id!)
    : controlKey.budget(c.source_id, c.team);

function ruleControl(rule: GuardRule, s: AgentStats, hold: GuardHold, observed: number): AgentControl {
  return {
    team: s.team,
    agent_id: s.agent_id,
    customer_id: rule.match.customer ?? null,
    tool: rule.match.tool ?? null,
    action: 'block',
    source: 'rule',
    source_id: rule.id,
    reason: ruleReason(rule, s.agent_id, observed, s.currency, hold.since),
    metric: rule.limit.metric,
    amount: rule.limit.amount,
    observed,
    window_s: rule.limit.window_s,
    currency: rule.limit.metric === 'cost' ? s.currency : null,
    since: hold.since,
    until: hold.until,
    actor: null,
    incident_dedupe_key: hold.dedupeKey || null,
  };
}

function frame(rule: GuardRule, s: AgentStats, hold: GuardHold, finding: Evaluation['finding']): Evaluation {
  return {
    rule: 'guard_limit',
    team: s.team,
    agentId: s.agent_id,
    subject: rule.id,
    windowStart: hold.since,
    windowEnd: hold.until,
    finding,
  };
}

import { opaqueId } from '@libs/alerting';
import type { AgentControl, AnomalyRecord } from '@libs/contracts';

/** The rule name of the anomalies that page a manual block and its lifting. */
export const MANUAL_BLOCK_RULE = 'guard_manual_block';

/** An operator's block of one agent (the guard_blocks row). Times are epoch ms. */
export interface ManualBlock {
  id: string;
  team: string;
  agent_id: string;
  customer_id: string | null;
  tool: string | null;
  reason: string;
  until: number | null;
  created_by_key_id: string;
  created_at: number;
  lifted_by_key_id: string | null;
  lifted_at: number | null;
}

/** Who acted, as the control's `actor` and the anomaly say it: the API key's id and name. */
export const actorOf = (keyId: string, keyName: string | null): string =>
  keyName ? `${keyId} (${keyName})` : keyId;

export const manualDedupeKey = (b: ManualBlock): string =>
  `${MANUAL_BLOCK_RULE}|${b.team}|${b.agent_id}|${b.id}`;

/** The block in force, as the api writes it under controlKey.manual(id). */
export function manualControl(b: ManualBlock, actor: string): AgentControl {
  return {
    team: b.team,
    agent_id: b.agent_id,
    customer_id: b.customer_id,
    tool: b.tool,
    action: 'block',
    source: 'manual',
    source_id: b.id,
    reason: b.reason,
    metric: null,
    amount: null,
    observed: null,
    window_s: null,
    currency: null,
    since: b.created_at,
    until: b.until,
    actor,
    incident_dedupe_key: manualDedupeKey(b),
  };
}

/**
 * The anomaly that pages a block (`firing`, opening its own incident of one signal) or its lifting (`resolved`,
 * resolving that incident), so the alert router tells the team's routes like any other incident. Critical: an agent
 * refused its calls is an outage of that agent.
 */
/** The actor of a lift no key made: the block's `until` passed. */
export const EXPIRY_ACTOR = '(its until passed)';

export function manualBlockAnomaly(
  b: ManualBlock,
  state: 'firing' | 'resolved',
  at: number,
  actor: string,
): AnomalyRecord {
  const dedupeKey = manualDedupeKey(b);
  const scope = [b.customer_id && `customer ${b.customer_id}`, b.tool && `tool ${b.tool}`]
    .filter(Boolean)
    .join(', ');
  const what = `agent ${b.agent_id} of team ${b.team}${scope ? ` (${scope})` : ''}`;
  const summary =
    state === 'firing'
      ? `${what} blocked by hand by API key ${actor}${b.until === null ? '' : ` until ${new Date(b.until).toISOString()}`}: ${b.reason}`
      : actor === EXPIRY_ACTOR
        ? `${what} unblocked: its block lapsed at ${new Date(b.until ?? at).toISOString()} (blocked since ${new Date(b.created_at).toISOString()}: ${b.reason})`
        : `${what} unblocked by API key ${actor} (blocked since ${new Date(b.created_at).toISOString()}: ${b.reason})`;
  return {
    anomaly_id: `${dedupeKey}@${b.created_at}#${state === 'firing' ? 1 : 2}`,
    dedupe_key: dedupeKey,
    rule: MANUAL_BLOCK_RULE,
    severity: 'critical',
    state,
    team: b.team,
    agent_id: b.agent_id,
    window_start: b.created_at,
    window_end: state === 'resolved' ? at : (b.until ?? at),
    observed: 1,
    threshold: 1,
    baseline_mean: null,
    baseline_stddev: null,
    zscore: null,
    currency: null,
    cost_per_run_before_nanos: null,
    cost_per_run_now_nanos: null,
    top_customers: [],
    top_features: [],
    summary,
    started_at: b.created_at,
    detected_at: at,
    late: false,
    details: {
      unit: 'block',
      block_id: b.id,
      reason: b.reason,
      actor,
      ...(b.customer_id !== null && { customer_id: b.customer_id }),
      ...(b.tool !== null && { tool: b.tool }),
      ...(b.until !== null && { until: new Date(b.until).toISOString() }),
    },
    trigger_run_id: null,
    incident_id: opaqueId('inc', dedupeKey),
    incident_action: state === 'firing' ? 'open' : 'resolve',
    incident_signals: state === 'firing' ? 1 : 0,
  };
}

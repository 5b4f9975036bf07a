import type { AgentControl } from '@libs/contracts';

/** What a producer asks before a call: may this agent of this team act (for this customer, with this tool)? */
export interface GuardQuery {
  team: string;
  agent_id: string;
  customer_id: string | null;
  tool: string | null;
}

/** One control that applies to the call, as GET /v1/guard lists it. */
export interface GuardReason {
  source: AgentControl['source'];
  source_id: string;
  action: AgentControl['action'];
  reason: string;
  metric: AgentControl['metric'];
  amount: number | null;
  observed: number | null;
  window_s: number | null;
  currency: string | null;
  since: string;
  until: string | null;
}

export interface GuardDecision {
  decision: 'allow' | 'block';
  /** Every control in force that applies: the blocking ones first, then those that only alert. */
  reasons: GuardReason[];
  /** When the block lapses by itself: the latest `until` of the blocking reasons, null if one has none (or allowed). */
  until: string | null;
}

/**
 * Whether a control applies to a call at `now`: same team; an agent, customer or tool it names (null: any) equal to
 * the call's; its `until` not passed. A control naming a customer or a tool does not apply to a call that names none.
 */
export function applies(control: AgentControl, query: GuardQuery, now: number): boolean {
  return (
    control.team === query.team &&
    (control.agent_id === null || control.agent_id === query.agent_id) &&
    (control.customer_id === null || control.customer_id === query.customer_id) &&
    (control.tool === null || control.tool === query.tool) &&
    (control.until === null || control.until > now)
  );
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Each control's reason, made once: a control in the view is never changed (a new record replaces it), and formatting
 * its times would otherwise be most of a decision's work. Frozen, as every answer naming the control shares it.
 */
const reasons = new WeakMap<AgentControl, GuardReason>();

function reasonOf(c: AgentControl): GuardReason {
  let reason = reasons.get(c);
  if (!reason) reasons.set(c, (reason = Object.freeze(describe(c))));
  return reason;
}

function describe(c: AgentControl): GuardReason {
  return {
    source: c.source,
    source_id: c.source_id,
    action: c.action,
    reason: c.reason,
    metric: c.metric,
    amount: c.amount,
    observed: c.observed,
    window_s: c.window_s,
    currency: c.currency,
    since: iso(c.since),
    until: c.until === null ? null : iso(c.until),
  };
}

/** Blocks before alerts, then oldest first, then by source and id: the same controls always answer the same. */
function order(a: AgentControl, b: AgentControl): number {
  if (a.action !== b.action) return a.action === 'block' ? -1 : 1;
  if (a.since !== b.since) return a.since - b.since;
  if (a.source !== b.source) return a.source < b.source ? -1 : 1;
  return a.source_id < b.source_id ? -1 : a.source_id > b.source_id ? 1 : 0;
}

/**
 * The guard's answer from the controls that may apply (those of the call's team): block when one control in force
 * that applies says block; `alert` controls are reported and never refuse.
 */
export function decide(candidates: Iterable<AgentControl>, query: GuardQuery, now: number): GuardDecision {
  const matching: AgentControl[] = [];
  for (const c of candidates) if (applies(c, query, now)) matching.push(c);
  matching.sort(order);
  const blocking = matching.filter((c) => c.action === 'block');
  // the blocking control that lapses last; none when one of them never lapses
  let last: AgentControl | undefined = blocking[0];
  for (const c of blocking) {
    if (c.until === null) {
      last = undefined;
      break;
    }
    if (c.until > last!.until!) last = c;
  }
  return {
    decision: blocking.length > 0 ? 'block' : 'allow',
    reasons: matching.map(reasonOf),
    until: last ? reasonOf(last).until : null,
  };
}

/** The anomaly record (schemas/anomaly.avsc) as TypeScript sees it. Times are epoch ms, money nano-units. */
export interface Anomaly {
  anomaly_id: string;
  dedupe_key: string;
  rule: RuleName;
  severity: Severity;
  state: AnomalyState;
  team: string;
  agent_id: string | null;
  window_start: number;
  window_end: number;
  observed: number;
  threshold: number;
  baseline_mean: number | null;
  baseline_stddev: number | null;
  zscore: number | null;
  currency: string | null;
  cost_per_run_before_nanos: number | null;
  cost_per_run_now_nanos: number | null;
  top_customers: Contributor[];
  top_features: Contributor[];
  summary: string;
  started_at: number;
  detected_at: number;
  late: boolean;
  details: Record<string, string>;
  trigger_run_id: string | null;
}

export interface Contributor {
  name: string;
  spend_nanos: number;
}

export const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export type AnomalyState = 'firing' | 'escalated' | 'resolved';

export type RuleName =
  | 'spend_zscore'
  | 'cost_per_run_jump'
  | 'cost_per_run_drift'
  | 'cost_per_success_climb'
  | 'session_outlier'
  | 'run_rate_loop'
  | 'child_run_loop'
  | 'budget'
  | 'unattributed_spend'
  | 'unpriced_model';

export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

/** What a rule found wrong. The tracker turns findings into firing / escalated / resolved records. */
export interface Finding {
  severity: Severity;
  observed: number;
  threshold: number;
  baselineMean?: number | null;
  baselineStddev?: number | null;
  zscore?: number | null;
  costPerRunBeforeNanos?: number | null;
  costPerRunNowNanos?: number | null;
  summary: string;
  details?: Record<string, string>;
}

/**
 * One rule's verdict on one subject and window: `finding` null means the condition is clear (an open anomaly on the
 * same key resolves). `subject` distinguishes several conditions of one rule on one agent (a budget, a session, a model).
 */
export interface Evaluation {
  rule: RuleName;
  team: string;
  agentId: string | null;
  subject: string;
  windowStart: number;
  windowEnd: number;
  finding: Finding | null;
}

export function dedupeKey(
  e: Pick<Evaluation, 'rule' | 'team' | 'agentId' | 'subject' | 'windowStart'>,
): string {
  return [e.rule, e.team, e.agentId ?? '*', e.subject, new Date(e.windowStart).toISOString()].join('|');
}

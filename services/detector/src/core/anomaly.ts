import {
  SEVERITIES,
  type AnomalyRecord,
  type AnomalyState,
  type Contributor,
  type Severity,
} from '@libs/contracts';

export { SEVERITIES, type AnomalyState, type Contributor, type Severity };

/** The anomaly record (libs/contracts, schemas/anomaly.avsc) with the detector's own rule names. */
export type Anomaly = Omit<AnomalyRecord, 'rule'> & { rule: RuleName };
export type RuleName =
  | 'spend_zscore'
  | 'cost_per_run_jump'
  | 'cost_per_run_drift'
  | 'prompt_creep'
  | 'cost_per_success_climb'
  | 'session_outlier'
  | 'run_rate_loop'
  | 'child_run_loop'
  | 'budget'
  | 'unattributed_spend'
  | 'unpriced_model'
  | 'guard_limit';

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

const isoStarts = new Map<number, string>();

/** Window starts are few (day, month and minute boundaries) and every run formats several: each is formatted once. */
function isoOf(t: number): string {
  let iso = isoStarts.get(t);
  if (iso === undefined) {
    if (isoStarts.size >= 10_000) isoStarts.clear();
    isoStarts.set(t, (iso = new Date(t).toISOString()));
  }
  return iso;
}

export function dedupeKey(
  e: Pick<Evaluation, 'rule' | 'team' | 'agentId' | 'subject' | 'windowStart'>,
): string {
  return `${e.rule}|${e.team}|${e.agentId ?? '*'}|${e.subject}|${isoOf(e.windowStart)}`;
}

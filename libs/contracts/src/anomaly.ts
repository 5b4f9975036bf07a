/** The anomaly record (schemas/anomaly.avsc) as TypeScript sees it. Times are epoch ms, money nano-units. */
export interface AnomalyRecord {
  anomaly_id: string;
  dedupe_key: string;
  rule: string;
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
  /** Opaque id of the incident (the signals about one agent or budget scope open together); null before 0.3. */
  incident_id: string | null;
  incident_action: IncidentAction | null;
  /** Signals of the incident open after this record: 0 on its resolve. */
  incident_signals: number | null;
}

export type IncidentAction = 'open' | 'update' | 'resolve';

export interface Contributor {
  name: string;
  spend_nanos: number;
}

export const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export type AnomalyState = 'firing' | 'escalated' | 'resolved';

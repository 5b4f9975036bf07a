/** An anomaly as the detector emits it (schemas/anomaly.avsc). */
export interface Anomaly {
  anomaly_id: string;
  dedupe_key: string;
  rule: string;
  severity: 'info' | 'warning' | 'error' | 'critical' | string;
  state: 'firing' | 'escalated' | 'resolved' | string;
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
  top_customers: { name: string; spend_nanos: number }[];
  top_features: { name: string; spend_nanos: number }[];
  summary: string;
  started_at: number;
  detected_at: number;
  late: boolean;
  details: Record<string, string>;
  trigger_run_id: string | null;
}

export type Destination =
  | { type: 'webhook'; url: string; secret: string }
  | { type: 'slack'; webhook_url: string }
  | { type: 'pagerduty'; routing_key: string }
  | { type: 'teams'; webhook_url: string }
  | { type: 'email'; to: string[] };

export interface RouteMatch {
  /** Glob on the agent id, `*` any run of characters. */
  agent_id?: string;
  rule?: string[];
  severity?: string[];
}

export interface Route {
  id: string;
  /** null: the catch-all for every team. */
  team: string | null;
  match: RouteMatch;
  destinations: Destination[];
}

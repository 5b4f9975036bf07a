/** The agent-stats record (schemas/agent-stats.avsc); money in nano-units of `currency`. */
export interface AgentStatsBucket {
  start: number;
  end: number;
  spend_nanos: number;
  runs: number;
  successful_runs: number;
  failed_runs: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  unattributed_spend_nanos: number;
  unpriced_runs: number;
  late_runs: number;
  cost_per_run_nanos: number | null;
  cost_per_successful_run_nanos: number | null;
}

export interface AgentBaseline {
  days: number;
  first_day: number;
  spend_mean_nanos: number;
  spend_stddev_nanos: number;
  cost_per_run_mean_nanos: number | null;
  cost_per_run_stddev_nanos: number | null;
  spend_zscore: number | null;
}

export interface SessionTotals {
  session_key: string;
  started_at: number;
  last_at: number;
  cost_nanos: number;
  runs: number;
  closed: boolean;
}

export interface AgentStats {
  team: string;
  agent_id: string;
  currency: string;
  timezone: string;
  stream_time: number;
  late: boolean;
  day: AgentStatsBucket;
  hour: AgentStatsBucket;
  baseline: AgentBaseline;
  sessions: { open: number; closed: number; median_cost_nanos: number | null; changed: SessionTotals[] };
}

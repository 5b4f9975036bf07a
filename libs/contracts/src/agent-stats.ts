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
  /** Today's expected spend knowing the week and the trend (libs/stats expectedDay); absent in older records. */
  spend_expected_nanos?: number | null;
  spend_expected_stddev_nanos?: number | null;
  day_factor?: number | null;
  trend_nanos_per_day?: number | null;
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

export interface NamedSpend {
  name: string;
  spend_nanos: number;
}

/** The rule inputs the aggregator keeps beyond the day and the baseline (schemas/agent-stats.avsc AgentSignals). */
export interface AgentSignals {
  last_run_at: number;
  last_run_id: string | null;
  history_days: number;
  yesterday: AgentStatsBucket | null;
  month: { start: number; end: number; spend_nanos: number };
  baseline_cost_per_run_nanos: number | null;
  baseline_cost_per_success_nanos: number | null;
  baseline_unattributed_mean_nanos: number;
  recent_cost_per_run: { nanos: number; runs: number } | null;
  reference_cost_per_run: { nanos: number; days: number } | null;
  minutes: { start: number; runs: number }[];
  minute_norm: number | null;
  parents: { parent_run_id: string; children: number }[];
  child_norm: number | null;
  top_customers: NamedSpend[];
  top_features: NamedSpend[];
  unpriced_models: { provider: string; model: string; runs_today: number }[];
  /** Input tokens (uncached, cache read and cache write) per run of yesterday and today; null without runs. */
  input_tokens_per_run: number | null;
  /**
   * The median of daily input tokens per run, and of daily cost per run, over the days 28 to 15 days before today that
   * had runs (`days` of them, at least 5; null otherwise): what prompt creep is measured from.
   */
  reference_input_tokens_per_run: {
    input_tokens_per_run: number;
    cost_per_run_nanos: number;
    days: number;
  } | null;
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
  /** Null in records written before the aggregator carried them. */
  signals: AgentSignals | null;
  /** The guard rules matching the agent with something in their window (absent in records written before). */
  guard?: GuardWindow[];
}

/** One guard rule's sliding window over an agent's matching runs, as of its latest run (schemas/agent-stats.avsc). */
export interface GuardWindow {
  rule_id: string;
  metric: 'cost' | 'runs' | 'tool_calls';
  window_s: number;
  /** Cost in currency units; runs and tool calls as counts. */
  observed: number;
  customer_id: string | null;
  tool: string | null;
  first_at: number;
}

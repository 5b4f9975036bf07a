import type { Pool } from 'pg';
import type { AgentStats, AnomalyRecord } from '@libs/contracts';

export interface AlertDeliveryRecord {
  delivery_id: string;
  anomaly_id: string;
  dedupe_key: string;
  team: string;
  agent_id: string | null;
  rule: string;
  state: string;
  destination_type: string;
  destination: string;
  attempt: number;
  outcome: string;
  http_status: number | null;
  error: string | null;
  latency_ms: number | null;
  at: number;
}

/** Anomalies and delivery attempts, one multi-row statement per batch, idempotent on their keys. */
export class EventsWriter {
  constructor(private readonly pool: Pool) {}

  async anomalies(records: readonly AnomalyRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    const { rowCount } = await this.pool.query(
      `insert into anomalies (anomaly_id, detected_at, dedupe_key, rule, severity, state, team, agent_id, window_start,
         window_end, observed, threshold, baseline_mean, baseline_stddev, zscore, currency, summary, late, record, incident_id)
       select a->>'anomaly_id', to_timestamp((a->>'detected_at')::bigint / 1000.0), a->>'dedupe_key', a->>'rule',
         a->>'severity', a->>'state', a->>'team', a->>'agent_id', to_timestamp((a->>'window_start')::bigint / 1000.0),
         to_timestamp((a->>'window_end')::bigint / 1000.0), (a->>'observed')::double precision,
         (a->>'threshold')::double precision, (a->>'baseline_mean')::double precision,
         (a->>'baseline_stddev')::double precision, (a->>'zscore')::double precision, a->>'currency', a->>'summary',
         (a->>'late')::boolean, a, a->>'incident_id'
       from jsonb_array_elements($1::jsonb) as a
       on conflict do nothing`,
      [JSON.stringify(records)],
    );
    return rowCount ?? 0;
  }

  async deliveries(records: readonly AlertDeliveryRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    const { rowCount } = await this.pool.query(
      `insert into alert_deliveries (delivery_id, attempt, outcome, at, anomaly_id, dedupe_key, team, agent_id, rule, state,
         destination_type, destination, http_status, error, latency_ms)
       select delivery_id, attempt, outcome, to_timestamp(at / 1000.0), anomaly_id, dedupe_key, team, agent_id, rule, state,
         destination_type, destination, http_status, error, latency_ms
       from jsonb_to_recordset($1::jsonb) as x(delivery_id text, attempt int, outcome text, at bigint, anomaly_id text,
         dedupe_key text, team text, agent_id text, rule text, state text, destination_type text, destination text,
         http_status int, error text, latency_ms bigint)
       on conflict do nothing`,
      [JSON.stringify(records)],
    );
    return rowCount ?? 0;
  }

  /** The latest figures per agent and day; a record never overwrites one with a later stream time. */
  async agentStats(records: readonly AgentStats[]): Promise<number> {
    if (records.length === 0) return 0;
    // one row per key per statement (ON CONFLICT may not touch a row twice): the latest record of each agent-day
    const latest = new Map<string, AgentStats>();
    for (const r of records) {
      const key = `${r.team}|${r.agent_id}|${r.day.start}`;
      const seen = latest.get(key);
      if (!seen || seen.stream_time <= r.stream_time) latest.set(key, r);
    }
    const rows = [...latest.values()].map((r) => ({
      team: r.team,
      agent_id: r.agent_id,
      day_start: r.day.start,
      day_end: r.day.end,
      timezone: r.timezone,
      currency: r.currency,
      stream_time: r.stream_time,
      spend_nanos: r.day.spend_nanos,
      runs: r.day.runs,
      successful_runs: r.day.successful_runs,
      failed_runs: r.day.failed_runs,
      input_tokens: r.day.input_tokens,
      output_tokens: r.day.output_tokens,
      cached_tokens: r.day.cached_tokens,
      unattributed_spend_nanos: r.day.unattributed_spend_nanos,
      unpriced_runs: r.day.unpriced_runs,
      late_runs: r.day.late_runs,
      baseline_days: r.baseline.days,
      baseline_mean_nanos: r.baseline.spend_mean_nanos,
      baseline_stddev_nanos: r.baseline.spend_stddev_nanos,
      baseline_cost_per_run_mean_nanos: r.baseline.cost_per_run_mean_nanos,
      spend_zscore: r.baseline.spend_zscore,
      median_session_cost_nanos: r.sessions.median_cost_nanos,
      open_sessions: r.sessions.open,
    }));
    const { rowCount } = await this.pool.query(
      `insert into agent_stats as s (team, agent_id, day_start, day_end, timezone, currency, stream_time, spend_nanos, runs,
         successful_runs, failed_runs, input_tokens, output_tokens, cached_tokens, unattributed_spend_nanos, unpriced_runs,
         late_runs, baseline_days, baseline_mean_nanos, baseline_stddev_nanos, baseline_cost_per_run_mean_nanos,
         spend_zscore, median_session_cost_nanos, open_sessions)
       select team, agent_id, to_timestamp(day_start / 1000.0), to_timestamp(day_end / 1000.0), timezone, currency,
         to_timestamp(stream_time / 1000.0), spend_nanos, runs, successful_runs, failed_runs, input_tokens, output_tokens,
         cached_tokens, unattributed_spend_nanos, unpriced_runs, late_runs, baseline_days, baseline_mean_nanos,
         baseline_stddev_nanos, baseline_cost_per_run_mean_nanos, spend_zscore, median_session_cost_nanos, open_sessions
       from jsonb_to_recordset($1::jsonb) as x(team text, agent_id text, day_start bigint, day_end bigint, timezone text,
         currency text, stream_time bigint, spend_nanos bigint, runs bigint, successful_runs bigint, failed_runs bigint,
         input_tokens bigint, output_tokens bigint, cached_tokens bigint, unattributed_spend_nanos bigint,
         unpriced_runs bigint, late_runs bigint, baseline_days int, baseline_mean_nanos double precision,
         baseline_stddev_nanos double precision, baseline_cost_per_run_mean_nanos double precision,
         spend_zscore double precision, median_session_cost_nanos double precision, open_sessions int)
       on conflict (team, agent_id, day_start) do update set
         day_end = excluded.day_end, timezone = excluded.timezone, currency = excluded.currency,
         stream_time = excluded.stream_time, spend_nanos = excluded.spend_nanos, runs = excluded.runs,
         successful_runs = excluded.successful_runs, failed_runs = excluded.failed_runs,
         input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
         cached_tokens = excluded.cached_tokens, unattributed_spend_nanos = excluded.unattributed_spend_nanos,
         unpriced_runs = excluded.unpriced_runs, late_runs = excluded.late_runs, baseline_days = excluded.baseline_days,
         baseline_mean_nanos = excluded.baseline_mean_nanos, baseline_stddev_nanos = excluded.baseline_stddev_nanos,
         baseline_cost_per_run_mean_nanos = excluded.baseline_cost_per_run_mean_nanos,
         spend_zscore = excluded.spend_zscore, median_session_cost_nanos = excluded.median_session_cost_nanos,
         open_sessions = excluded.open_sessions
       where s.stream_time <= excluded.stream_time`,
      [JSON.stringify(rows)],
    );
    return rowCount ?? 0;
  }
}

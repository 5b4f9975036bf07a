import type { Pool } from 'pg';
import type { AnomalyRecord } from '@libs/contracts';

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
         window_end, observed, threshold, baseline_mean, baseline_stddev, zscore, currency, summary, late, record)
       select a->>'anomaly_id', to_timestamp((a->>'detected_at')::bigint / 1000.0), a->>'dedupe_key', a->>'rule',
         a->>'severity', a->>'state', a->>'team', a->>'agent_id', to_timestamp((a->>'window_start')::bigint / 1000.0),
         to_timestamp((a->>'window_end')::bigint / 1000.0), (a->>'observed')::double precision,
         (a->>'threshold')::double precision, (a->>'baseline_mean')::double precision,
         (a->>'baseline_stddev')::double precision, (a->>'zscore')::double precision, a->>'currency', a->>'summary',
         (a->>'late')::boolean, a
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
}

import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { PG_POOL } from '@libs/db';
import {
  cursorInstantSql,
  epochMicros,
  pageOf,
  type KeyValue,
  type Keyset,
  type PageRequest,
} from './pagination';

/** What the recorder stored of anomalies, incidents, agent stats and alert deliveries, a page at a time. */

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Newest first by detection, then by id: the order of GET /v1/anomalies and of its cursor. */
export const ANOMALY_KEYSET: Keyset = { parts: ['instant', 'text'] };
/** Newest opened first, then by id. */
export const INCIDENT_KEYSET: Keyset = { parts: ['instant', 'text'] };
/** Newest day first, then team and agent (both descending). */
export const AGENT_STATS_KEYSET: Keyset = { parts: ['instant', 'text', 'text'] };
/** Newest attempt first, then by id. */
export const DELIVERY_KEYSET: Keyset = { parts: ['instant', 'text'] };

export interface AnomalyFilter {
  from: string;
  to: string;
  team: string | null;
  agentId: string | null;
  rule: string | null;
  state: string | null;
}

export interface IncidentFilter {
  from: string;
  to: string;
  team: string | null;
  agentId: string | null;
  state: 'open' | 'resolved' | null;
}

export interface IncidentRow {
  incident_id: string;
  team: string;
  agent_id: string | null;
  opened_at: Date;
  /** opened_at in epoch microseconds (the cursor's key). */
  opened_us: string;
  last_at: Date;
  resolved: boolean;
  records: Record<string, unknown>[];
}

export interface DeliveryFilter {
  from: string;
  to: string;
  team: string | null;
  anomalyId: string | null;
  outcome: string | null;
}

/** `(a, b, …) < ($n, $n+1, …)`, the keyset condition after a cursor; `true` on the first page. */
function after(
  columns: string[],
  cursor: readonly KeyValue[] | null,
  params: unknown[],
  kinds: Keyset,
): string {
  if (cursor === null) return 'true';
  const placeholders = cursor.map((v, i) => {
    params.push(v);
    return kinds.parts[i] === 'instant' ? cursorInstantSql(params.length) : `$${params.length}::text`;
  });
  return `(${columns.join(', ')}) < (${placeholders.join(', ')})`;
}

@Injectable()
export class AnomaliesRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async anomalies(f: AnomalyFilter, page: PageRequest): Promise<Page<Record<string, unknown>>> {
    const params: unknown[] = [f.from, f.to, f.team, f.agentId, f.rule, f.state];
    const cursor = after(['detected_at', 'anomaly_id'], page.after, params, ANOMALY_KEYSET);
    const { rows } = await this.pool.query<{
      record: Record<string, unknown>;
      at_us: string;
      anomaly_id: string;
    }>(
      `select record, ${epochMicros('detected_at')} as at_us, anomaly_id from anomalies
       where detected_at >= $1 and detected_at < $2 and ($3::text is null or team = $3) and ($4::text is null or agent_id = $4)
         and ($5::text is null or rule = $5) and ($6::text is null or state = $6) and ${cursor}
       order by detected_at desc, anomaly_id desc limit ${page.limit + 1}`,
      params,
    );
    const { items, next_cursor } = pageOf(rows, page.limit, ANOMALY_KEYSET, (r) => [r.at_us, r.anomaly_id]);
    return { items: items.map((r) => r.record), next_cursor };
  }

  async incidents(f: IncidentFilter, page: PageRequest): Promise<Page<IncidentRow>> {
    const params: unknown[] = [f.from, f.to, f.team, f.agentId];
    const having = [
      f.state === null ? 'true' : `bool_or(incident_action = 'resolve') = ${f.state === 'resolved'}`,
      after(['min(detected_at)', 'incident_id'], page.after, params, INCIDENT_KEYSET),
    ].join(' and ');
    const rows = await this.incidentRows(
      `incident_id in (
         select distinct incident_id from anomalies
         where incident_id is not null and detected_at >= $1 and detected_at < $2 and ($3::text is null or team = $3)
           and ($4::text is null or agent_id = $4))`,
      params,
      having,
      page.limit + 1,
    );
    return pageOf(rows, page.limit, INCIDENT_KEYSET, (r) => [r.opened_us, r.incident_id]);
  }

  async incident(id: string, team: string | null): Promise<IncidentRow | null> {
    const rows = await this.incidentRows(
      'incident_id = $1 and ($2::text is null or team = $2)',
      [id, team],
      'true',
      1,
    );
    return rows[0] ?? null;
  }

  /** Incidents whose records match `where`, each with its records in order. */
  private async incidentRows(
    where: string,
    params: unknown[],
    having: string,
    limit: number,
  ): Promise<IncidentRow[]> {
    const { rows } = await this.pool.query<IncidentRow>(
      `select incident_id, team, min(agent_id) as agent_id, min(detected_at) as opened_at, max(detected_at) as last_at,
         ${epochMicros('min(detected_at)')} as opened_us,
         bool_or(incident_action = 'resolve') as resolved, jsonb_agg(record order by detected_at, anomaly_id) as records
       from (select incident_id, team, agent_id, detected_at, anomaly_id, record, record->>'incident_action' as incident_action
             from anomalies where ${where}) a
       group by incident_id, team having ${having}
       order by opened_at desc, incident_id desc limit ${limit}`,
      params,
    );
    return rows;
  }

  async agentStats(
    f: { from: string; to: string; team: string | null; agentId: string | null },
    page: PageRequest,
  ): Promise<Page<Record<string, unknown>>> {
    const params: unknown[] = [f.from, f.to, f.team, f.agentId];
    const cursor = after(['day_start', 'team', 'agent_id'], page.after, params, AGENT_STATS_KEYSET);
    const { rows } = await this.pool.query<Record<string, unknown>>(
      `select team, agent_id, day_start, ${epochMicros('day_start')} as day_us, day_end, timezone, currency, stream_time, spend_nanos::text, runs::int,
         successful_runs::int, failed_runs::int, input_tokens::text, output_tokens::text, cached_tokens::text,
         unattributed_spend_nanos::text, unpriced_runs::int, late_runs::int, baseline_days, baseline_mean_nanos,
         baseline_stddev_nanos, baseline_cost_per_run_mean_nanos, spend_zscore, median_session_cost_nanos, open_sessions
       from agent_stats
       where day_start >= $1 and day_start < $2 and ($3::text is null or team = $3) and ($4::text is null or agent_id = $4)
         and ${cursor}
       order by day_start desc, team desc, agent_id desc limit ${page.limit + 1}`,
      params,
    );
    const { items, next_cursor } = pageOf(rows, page.limit, AGENT_STATS_KEYSET, (r) => [
      String(r.day_us),
      String(r.team),
      String(r.agent_id),
    ]);
    return { items: items.map(({ day_us: _, ...r }) => r), next_cursor };
  }

  async deliveries(f: DeliveryFilter, page: PageRequest): Promise<Page<Record<string, unknown>>> {
    const params: unknown[] = [f.from, f.to, f.team, f.anomalyId, f.outcome];
    const cursor = after(['at', 'delivery_id'], page.after, params, DELIVERY_KEYSET);
    const { rows } = await this.pool.query<Record<string, unknown>>(
      `select delivery_id, anomaly_id, dedupe_key, team, agent_id, rule, state, destination_type, destination, attempt,
              outcome, http_status, error, latency_ms, at, ${epochMicros('at')} as at_us
       from alert_deliveries
       where at >= $1 and at < $2 and ($3::text is null or team = $3) and ($4::text is null or anomaly_id = $4)
         and ($5::text is null or outcome = $5) and ${cursor}
       order by at desc, delivery_id desc limit ${page.limit + 1}`,
      params,
    );
    const { items, next_cursor } = pageOf(rows, page.limit, DELIVERY_KEYSET, (r) => [
      String(r.at_us),
      String(r.delivery_id),
    ]);
    return { items: items.map(({ at_us: _, ...r }) => r), next_cursor };
  }
}

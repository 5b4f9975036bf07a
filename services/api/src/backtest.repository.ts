import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { PG_POOL } from '@libs/db';

/** A `runs` row as read back: bigints as strings (exact), instants as epoch milliseconds (strings too). */
export interface StoredRunRow {
  run_id: string;
  finished_key: string;
  finished_ms: string;
  started_ms: string;
  received_ms: string | null;
  priced_ms: string;
  team: string;
  agent_id: string;
  model: string;
  provider: string;
  status: string;
  customer_id: string | null;
  feature: string | null;
  cost_centre: string | null;
  session_id: string | null;
  tool: string | null;
  parent_run_id: string | null;
  quality_score: number | null;
  tags: Record<string, string> | null;
  uncached_input_tokens: string;
  cache_read_tokens: string;
  cache_write_tokens: string;
  output_tokens: string;
  input_cost_nanos: string;
  cache_read_cost_nanos: string;
  cache_write_cost_nanos: string;
  output_cost_nanos: string;
  total_cost_nanos: string;
  currency: string;
  price_status: string;
  rate_card_id: string | null;
  rate_card_version: string | null;
  price_tier: string | null;
}

/** Epoch milliseconds of a stored instant (written as to_timestamp(ms / 1000.0): rounding gives the ms back). */
const ms = (column: string) => `round(extract(epoch from ${column}) * 1000)::bigint`;

const SELECT_RUNS = `
  select run_id, finished_at::text as finished_key, ${ms('finished_at')} as finished_ms,
    ${ms('started_at')} as started_ms, ${ms('received_at')} as received_ms, ${ms('priced_at')} as priced_ms,
    team, agent_id, model, provider, status, customer_id, feature, cost_centre, session_id, tool, parent_run_id,
    quality_score, tags, uncached_input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, input_cost_nanos,
    cache_read_cost_nanos, cache_write_cost_nanos, output_cost_nanos, total_cost_nanos, currency, price_status,
    rate_card_id, rate_card_version, price_tier
  from runs
  where team = $1 and finished_at >= greatest($2::timestamptz, $4::timestamptz) and finished_at < $3
    and (finished_at, run_id) > ($4::timestamptz, $5)
  order by finished_at, run_id
  limit $6`;

/** A team's stored runs, read for a backtest's replay. */
@Injectable()
export class BacktestRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** The team's runs that finished in [from, to), counted up to `limit` (a count of `limit` means that many or more). */
  async countRuns(team: string, from: string, to: string, limit: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      `select count(*)::int as n from (select 1 from runs where team = $1 and finished_at >= $2 and finished_at < $3
         limit $4) r`,
      [team, from, to, limit],
    );
    return rows[0].n;
  }

  /**
   * Up to `limit` of the team's runs that finished in [from, to), in (finished_at, run_id) order, after the position
   * `after` ([finished_at as the row's finished_key gave it, run_id]; ['-infinity', ''] for the first page).
   */
  async runsPage(
    team: string,
    from: string,
    to: string,
    after: [string, string],
    limit: number,
  ): Promise<StoredRunRow[]> {
    const { rows } = await this.pool.query<StoredRunRow>(SELECT_RUNS, [team, from, to, ...after, limit]);
    return rows;
  }
}

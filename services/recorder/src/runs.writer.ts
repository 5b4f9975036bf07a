import type { Pool } from 'pg';
import type { PricedRun } from '@libs/contracts';

/**
 * Writes priced runs and their hourly rollup in one statement: runs are inserted with ON CONFLICT DO NOTHING and only
 * the rows actually inserted are added to spend_hourly, so a replayed or redelivered batch changes nothing.
 */
export class RunsWriter {
  constructor(private readonly pool: Pool) {}

  async write(runs: readonly PricedRun[]): Promise<number> {
    if (runs.length === 0) return 0;
    const unique = new Map<string, PricedRun>();
    for (const p of runs) unique.set(`${p.team}\u0000${p.run.run_id}\u0000${p.run.finished_at}`, p);
    const rows = [...unique.values()].map((p) => ({
      run_id: p.run.run_id,
      finished_at: p.run.finished_at,
      started_at: p.run.started_at,
      team: p.team,
      agent_id: p.run.agent_id,
      model: p.run.model,
      provider: p.provider,
      status: p.run.status,
      customer_id: p.run.customer_id,
      feature: p.run.feature,
      cost_centre: p.run.cost_centre,
      session_id: p.run.session_id,
      tool: p.run.tool,
      parent_run_id: p.run.parent_run_id,
      quality_score: p.run.quality_score,
      tags: p.run.tags,
      uncached_input_tokens: p.uncached_input_tokens,
      cache_read_tokens: p.cache_read_tokens,
      cache_write_tokens: p.cache_write_tokens,
      output_tokens: p.output_tokens,
      input_cost_nanos: p.input_cost_nanos,
      cache_read_cost_nanos: p.cache_read_cost_nanos,
      cache_write_cost_nanos: p.cache_write_cost_nanos,
      output_cost_nanos: p.output_cost_nanos,
      total_cost_nanos: p.total_cost_nanos,
      currency: p.currency,
      price_status: p.price_status,
      rate_card_id: p.rate_card_id,
      rate_card_version: p.rate_card_version,
      price_tier: p.price_tier,
      received_at: p.run.received_at,
      priced_at: p.priced_at,
    }));
    // Instants travel as epoch milliseconds (exact in float8 to the microsecond PostgreSQL keeps): formatting four ISO
    // strings a run was the largest cost of this writer.
    const { rows: result } = await this.pool.query<{ inserted: string }>(
      `with input as (
         select * from jsonb_to_recordset($1::jsonb) as x(
           run_id text, finished_at bigint, started_at bigint, team text, agent_id text, model text, provider text,
           status text, customer_id text, feature text, cost_centre text, session_id text, tool text, parent_run_id text,
           quality_score double precision, tags jsonb, uncached_input_tokens bigint, cache_read_tokens bigint,
           cache_write_tokens bigint, output_tokens bigint, input_cost_nanos bigint, cache_read_cost_nanos bigint,
           cache_write_cost_nanos bigint, output_cost_nanos bigint, total_cost_nanos bigint, currency text,
           price_status text, rate_card_id text, rate_card_version text, price_tier text, received_at bigint,
           priced_at bigint)
       ),
       inserted as (
         insert into runs select
           run_id, to_timestamp(finished_at / 1000.0), to_timestamp(started_at / 1000.0), team, agent_id, model, provider, status, customer_id, feature, cost_centre,
           session_id, tool, parent_run_id, quality_score, coalesce(tags, '{}'), uncached_input_tokens, cache_read_tokens,
           cache_write_tokens, output_tokens, input_cost_nanos, cache_read_cost_nanos, cache_write_cost_nanos,
           output_cost_nanos, total_cost_nanos, currency, price_status, rate_card_id, rate_card_version, price_tier,
           to_timestamp(received_at / 1000.0), to_timestamp(priced_at / 1000.0)
         from input
         on conflict do nothing
         returning *
       ),
       rolled as (
         insert into spend_hourly as s (bucket, team, agent_id, customer_id, feature, model, cost_centre, currency, runs,
           successful_runs, unpriced_runs, cost_nanos, input_tokens, output_tokens, cache_read_tokens)
         select date_trunc('hour', i.finished_at), i.team, i.agent_id, coalesce(i.customer_id, ''), coalesce(i.feature, ''),
           i.model, coalesce(i.cost_centre, ''), i.currency, count(*),
           count(*) filter (where i.status = 'success' and (i.quality_score is null
             or i.quality_score >= coalesce(ts.quality_threshold, 0))),
           count(*) filter (where i.price_status = 'unpriced'),
           sum(i.total_cost_nanos), sum(i.uncached_input_tokens + i.cache_read_tokens + i.cache_write_tokens),
           sum(i.output_tokens), sum(i.cache_read_tokens)
         from inserted i left join team_settings ts on ts.team = i.team
         group by 1, 2, 3, 4, 5, 6, 7, 8
         on conflict (team, bucket, agent_id, customer_id, feature, model, cost_centre, currency) do update set
           runs = s.runs + excluded.runs, successful_runs = s.successful_runs + excluded.successful_runs,
           unpriced_runs = s.unpriced_runs + excluded.unpriced_runs, cost_nanos = s.cost_nanos + excluded.cost_nanos,
           input_tokens = s.input_tokens + excluded.input_tokens, output_tokens = s.output_tokens + excluded.output_tokens,
           cache_read_tokens = s.cache_read_tokens + excluded.cache_read_tokens
       )
       select count(*) as inserted from inserted`,
      [JSON.stringify(rows)],
    );
    return Number(result[0].inserted);
  }
}

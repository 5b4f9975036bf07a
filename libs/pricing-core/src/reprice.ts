import type { Pool } from 'pg';
import { RateCardRepository } from './rate-card.repository';
import { RateCardResolver } from './rate-card-resolver';

interface StoredRun {
  team: string;
  run_id: string;
  finished_at: Date;
  /** finished_at exactly as stored (microseconds), to match the row again. */
  finished_key: string;
  started_at: Date;
  model: string;
  provider: string;
  uncached_input_tokens: string;
  cache_read_tokens: string;
  cache_write_tokens: string;
  output_tokens: string;
}

/**
 * Prices stored runs that were unpriced when they arrived, now that the rate card knows their model: each run is
 * priced at the rate in force at its own finished_at, the run row updated and the hourly rollup adjusted by the
 * difference. Only rows still marked unpriced are touched, so running it twice changes nothing the second time.
 * A team's unpriced model leaves unpriced_models once none of that team's runs of it is left unpriced.
 * (Aggregated stats already emitted by the aggregator are not revised.)
 */
export async function repriceUnpriced(
  pool: Pool,
  batchSize = 1000,
): Promise<{ repriced: number; stillUnpriced: number }> {
  const card = new RateCardResolver(await new RateCardRepository(pool).load());
  let repriced = 0;
  let stillUnpriced = 0;
  const touched = new Map<string, { team: string; provider: string; model: string }>();
  // Paged by the runs key, (team, run_id, finished_at): two teams may use the same run_id.
  let after: [string, string, string] = ['', '', '-infinity'];
  for (;;) {
    const { rows } = await pool.query<StoredRun>(
      `select team, run_id, finished_at, finished_at::text as finished_key, started_at, model, provider,
         uncached_input_tokens, cache_read_tokens, cache_write_tokens, output_tokens
       from runs where price_status = 'unpriced' and (team, run_id, finished_at) > ($1, $2, $3::timestamptz)
       order by team, run_id, finished_at limit $4`,
      [...after, batchSize],
    );
    if (rows.length === 0) break;
    const last = rows[rows.length - 1];
    after = [last.team, last.run_id, last.finished_key];
    const updates = [];
    for (const r of rows) {
      // Stored tokens are already normalised into disjoint parts; the stored provider and model are the resolved ones.
      const uncached = Number(r.uncached_input_tokens);
      const cacheRead = Number(r.cache_read_tokens);
      const cacheWrite = Number(r.cache_write_tokens);
      const result = card.priceTokens(
        r.model,
        r.provider === 'unknown' ? null : r.provider,
        {
          uncachedInput: uncached,
          cacheRead,
          cacheWrite5m: cacheWrite,
          cacheWrite1h: 0,
          output: Number(r.output_tokens),
          prompt: uncached + cacheRead + cacheWrite,
        },
        r.finished_at.getTime(),
      );
      if (result.status !== 'priced') {
        stillUnpriced++;
        continue;
      }
      touched.set(`${r.team}\u0000${r.provider}\u0000${r.model}`, {
        team: r.team,
        provider: r.provider,
        model: r.model,
      });
      const c = result.costs;
      updates.push({
        team: r.team,
        run_id: r.run_id,
        finished_at: r.finished_key,
        input: c.input,
        cache_read: c.cacheRead,
        cache_write: c.cacheWrite,
        output: c.output,
        total: c.total,
        currency: result.currency,
        row: result.row?.id ?? null,
        version: result.row?.version ?? null,
        tier: result.tier,
      });
    }
    if (updates.length === 0) continue;
    const { rows: done } = await pool.query<{ n: string }>(
      `with u as (select * from jsonb_to_recordset($1::jsonb) as x(team text, run_id text, finished_at timestamptz, input bigint,
         cache_read bigint, cache_write bigint, output bigint, total bigint, currency text, row text, version text, tier text)),
       updated as (
         update runs r set input_cost_nanos = u.input, cache_read_cost_nanos = u.cache_read, cache_write_cost_nanos = u.cache_write,
           output_cost_nanos = u.output, total_cost_nanos = u.total, currency = u.currency, price_status = 'priced',
           rate_card_id = u.row, rate_card_version = u.version, price_tier = u.tier, priced_at = now()
         from u where r.team = u.team and r.run_id = u.run_id and r.finished_at = u.finished_at
           and r.price_status = 'unpriced'
         returning r.*
       ),
       rolled as (
         update spend_hourly s set cost_nanos = s.cost_nanos + d.cost, unpriced_runs = s.unpriced_runs - d.n
         from (select date_trunc('hour', finished_at) as bucket, team, agent_id, coalesce(customer_id, '') as customer_id,
                 coalesce(feature, '') as feature, model, coalesce(cost_centre, '') as cost_centre, currency,
                 sum(total_cost_nanos) as cost, count(*) as n
               from updated group by 1, 2, 3, 4, 5, 6, 7, 8) d
         where s.bucket = d.bucket and s.team = d.team and s.agent_id = d.agent_id and s.customer_id = d.customer_id
           and s.feature = d.feature and s.model = d.model and s.cost_centre = d.cost_centre and s.currency = d.currency
       )
       select count(*) as n from updated`,
      [JSON.stringify(updates)],
    );
    repriced += Number(done[0].n);
  }
  if (touched.size > 0) {
    // A statement of its own: within the update's statement, runs would still read as unpriced.
    await pool.query(
      `delete from unpriced_models m
       using jsonb_to_recordset($1::jsonb) as k(team text, provider text, model text)
       where m.team = k.team and m.provider = k.provider and m.model = k.model
         and not exists (select 1 from runs r where r.price_status = 'unpriced' and r.team = k.team
           and r.provider = k.provider and r.model = k.model)`,
      [JSON.stringify([...touched.values()])],
    );
  }
  return { repriced, stillUnpriced };
}

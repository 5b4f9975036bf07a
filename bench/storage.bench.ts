/**
 * Storage: the recorder's idempotent batch write (runs + hourly rollup in one statement) against the do-it-yourself
 * way of seed 004 (one INSERT per run), and the p95 of a 30-day breakdown through the real api over a database
 * holding 10 million stored runs (1 million with --quick). Runs in its own database, burnrate_bench.
 */
import { Client } from 'pg';
import type { PricedRun } from '@libs/contracts';
import { createPool, runMigrations } from '@libs/db';
import { ApiKeyRepository } from '@libs/auth';
import { RunsWriter } from '../services/recorder/src/runs.writer';
import { peakRssMb, quick, round, startBuiltService, stop } from './support';

const BASE = process.env.DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/burnrate';
const URL_BENCH = BASE.replace(/\/[^/]*$/, '/burnrate_bench');
const DAY = 86_400_000;

function priced(i: number, now: number): PricedRun {
  const finished = now - (i % (30 * 24)) * 3_600_000 - (i % 3600) * 1000;
  return {
    run: {
      run_id: `bench-${now}-${i}`,
      agent_id: `agent-${i % 20}`,
      team: `team-${i % 3}`,
      model: i % 2 ? 'gpt-4o' : 'claude-sonnet-4-5',
      provider: i % 2 ? 'openai' : 'anthropic',
      input_tokens: 3000,
      output_tokens: 500,
      cache_read_tokens: null,
      cache_write_tokens: null,
      cache_write_1h_tokens: null,
      started_at: finished - 2000,
      finished_at: finished,
      status: i % 10 ? 'success' : 'error',
      customer_id: i % 17 ? `cus-${i % 6}` : null,
      feature: `feature-${i % 4}`,
      cost_centre: null,
      session_id: null,
      tool: null,
      parent_run_id: null,
      quality_score: null,
      tags: {},
      received_at: null,
      source: 'http',
    },
    team: `team-${i % 3}`,
    provider: i % 2 ? 'openai' : 'anthropic',
    price_status: 'priced',
    currency: 'USD',
    uncached_input_tokens: 3000,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: 500,
    input_cost_nanos: 7_500_000,
    cache_read_cost_nanos: 0,
    cache_write_cost_nanos: 0,
    output_cost_nanos: 5_000_000,
    total_cost_nanos: 12_500_000,
    rate_card_id: 'bench',
    rate_card_version: 'bench',
    price_tier: null,
    priced_at: now,
  };
}

async function main(): Promise<void> {
  const admin = new Client({ connectionString: BASE });
  await admin.connect();
  await admin.query('drop database if exists burnrate_bench');
  await admin.query('create database burnrate_bench');
  await admin.end();
  await runMigrations(URL_BENCH);
  const pool = createPool(URL_BENCH, 4);
  const now = Date.now();

  // Recorder: batches of 4,000 (the consumer loop's slice), one statement each; first one stream, then three
  // concurrent streams over disjoint agents, as the recorder consumes three partitions at once.
  const n = quick ? 100_000 : 400_000;
  const writer = new RunsWriter(pool);
  const runs = Array.from({ length: n }, (_, i) => priced(i, now));
  const half = n / 2;
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < half; i += 4000) await writer.write(runs.slice(i, Math.min(i + 4000, half)));
  const oneStream = half / (Number(process.hrtime.bigint() - t0) / 1e9);
  const streams = [0, 1, 2].map((k) =>
    runs.slice(half).filter((r) => Number(r.run.agent_id.slice(6)) % 3 === k),
  );
  t0 = process.hrtime.bigint();
  await Promise.all(
    streams.map(async (stream) => {
      for (let i = 0; i < stream.length; i += 4000) await writer.write(stream.slice(i, i + 4000));
    }),
  );
  const recorder = (n - half) / (Number(process.hrtime.bigint() - t0) / 1e9);

  // DIY: one INSERT per run, as seed 004 describes.
  const diyN = quick ? 3000 : 10_000;
  const client = await pool.connect();
  t0 = process.hrtime.bigint();
  for (let i = 0; i < diyN; i++) {
    const r = priced(n + i, now);
    await client.query(
      `insert into runs (run_id, finished_at, started_at, team, agent_id, model, provider, status, customer_id, feature,
         uncached_input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, input_cost_nanos, cache_read_cost_nanos,
         cache_write_cost_nanos, output_cost_nanos, total_cost_nanos, currency, price_status, priced_at)
       values ($1, to_timestamp($2 / 1000.0), to_timestamp($3 / 1000.0), $4, $5, $6, $7, $8, $9, $10, 3000, 0, 0, 500, 7500000, 0, 0, 5000000, 12500000, 'USD', 'priced', now())`,
      [
        r.run.run_id,
        r.run.finished_at,
        r.run.started_at,
        r.team,
        r.run.agent_id,
        r.run.model,
        r.provider,
        r.run.status,
        r.run.customer_id,
        r.run.feature,
      ],
    );
  }
  const diy = diyN / (Number(process.hrtime.bigint() - t0) / 1e9);
  client.release();
  console.log(
    `recorder: ${round(recorder)} rows/s with three partitions written concurrently, ${round(oneStream)} rows/s from one (with the hourly rollup); one INSERT per run: ${round(diy)} rows/s; ratio ${round(recorder / diy, 1)}`,
  );

  // 10M stored runs over 30 days, written in SQL, and their rollup.
  const total = quick ? 1_000_000 : 10_000_000;
  t0 = process.hrtime.bigint();
  await pool.query(
    `insert into runs (run_id, finished_at, started_at, team, agent_id, model, provider, status, customer_id, feature,
       uncached_input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, input_cost_nanos, cache_read_cost_nanos,
       cache_write_cost_nanos, output_cost_nanos, total_cost_nanos, currency, price_status, priced_at)
     select 'gen-' || g, to_timestamp($1 / 1000.0) - (g % 2592000) * interval '1 second', to_timestamp($1 / 1000.0) - (g % 2592000) * interval '1 second',
       'team-' || (g % 3), 'agent-' || (g % 20), case when g % 2 = 0 then 'gpt-4o' else 'claude-sonnet-4-5' end, 'x',
       case when g % 10 = 0 then 'error' else 'success' end, case when g % 17 = 0 then null else 'cus-' || (g % 6) end,
       'feature-' || (g % 4), 3000, 0, 0, 500, 7500000, 0, 0, 5000000, 12500000, 'USD', 'priced', now()
     from generate_series(1, $2) as g`,
    [now, total],
  );
  await pool.query(
    `insert into spend_hourly (bucket, team, agent_id, customer_id, feature, model, cost_centre, currency, runs, successful_runs,
       unpriced_runs, cost_nanos, input_tokens, output_tokens, cache_read_tokens)
     select date_trunc('hour', finished_at), team, agent_id, coalesce(customer_id, ''), coalesce(feature, ''), model, '', currency,
       count(*), count(*) filter (where status = 'success'), 0, sum(total_cost_nanos), sum(uncached_input_tokens), sum(output_tokens), 0
     from runs where run_id like 'gen-%' group by 1, 2, 3, 4, 5, 6, 8
     on conflict (team, bucket, agent_id, customer_id, feature, model, cost_centre, currency) do update set
       runs = spend_hourly.runs + excluded.runs, successful_runs = spend_hourly.successful_runs + excluded.successful_runs,
       cost_nanos = spend_hourly.cost_nanos + excluded.cost_nanos`,
  );
  await pool.query('analyze runs; analyze spend_hourly');
  const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const { rows } = await pool.query<{ n: string }>('select count(*) as n from runs');
  console.log(
    `stored runs: ${Number(rows[0].n).toLocaleString('en')} (generated in ${round(loadSeconds, 1)} s)`,
  );

  const { key } = await new ApiKeyRepository(pool).create('_admin', 'bench', 'admin');
  const api = await startBuiltService('api', 18680, { DATABASE_URL: URL_BENCH });
  const from = new Date(now - 30 * DAY).toISOString();
  const to = new Date(now).toISOString();
  const latencies: number[] = [];
  const groups = ['agent', 'customer', 'feature', 'team', 'model'];
  for (let i = 0; i < (quick ? 60 : 200); i++) {
    const start = process.hrtime.bigint();
    const res = await fetch(
      `http://127.0.0.1:18680/v1/spend?group_by=${groups[i % groups.length]}&bucket=day&from=${from}&to=${to}`,
      {
        headers: { authorization: `Bearer ${key}` },
      },
    );
    await res.json();
    if (!res.ok) throw new Error(`breakdown answered ${res.status}`);
    latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const rss = peakRssMb(api.pid);
  await stop(api);
  await pool.end();
  const cleanup = new Client({ connectionString: BASE });
  await cleanup.connect();
  await cleanup.query('drop database if exists burnrate_bench');
  await cleanup.end();
  latencies.sort((a, b) => a - b);
  const p95 = latencies[Math.floor(latencies.length * 0.95)];
  console.log(
    `30-day breakdown over ${Number(rows[0].n).toLocaleString('en')} runs: p50 ${round(latencies[latencies.length >> 1], 1)} ms, p95 ${round(p95, 1)} ms`,
  );
  console.log(
    JSON.stringify({
      recorder_rows_per_s: round(recorder),
      recorder_rows_per_s_one_partition: round(oneStream),
      diy_rows_per_s: round(diy),
      recorder_vs_diy: round(recorder / diy, 1),
      breakdown_p95_ms: round(p95, 1),
      breakdown_stored_runs: Number(rows[0].n),
      api_peak_rss_mb: rss,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

import type { MigrationInterface, QueryRunner } from 'typeorm';
import { useTimescale } from '../data-source';
import { applyTimescale } from '../timescale';

/**
 * Priced runs and the hourly spend rollup the breakdowns read. Plain PostgreSQL first; with the timescaledb extension
 * usable (see useTimescale), `runs` becomes a hypertable on finished_at with compression and retention policies (RUNS_RETENTION_DAYS,
 * default 400). Unique keys include the time column, as hypertables require.
 */
export class Storage1763800002000 implements MigrationInterface {
  name = 'Storage1763800002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table if not exists runs (
        run_id text not null,
        finished_at timestamptz not null,
        started_at timestamptz not null,
        team text not null,
        agent_id text not null,
        model text not null,
        provider text not null,
        status text not null,
        customer_id text,
        feature text,
        cost_centre text,
        session_id text,
        tool text,
        parent_run_id text,
        quality_score double precision,
        tags jsonb not null default '{}',
        uncached_input_tokens bigint not null,
        cache_read_tokens bigint not null,
        cache_write_tokens bigint not null,
        output_tokens bigint not null,
        input_cost_nanos bigint not null,
        cache_read_cost_nanos bigint not null,
        cache_write_cost_nanos bigint not null,
        output_cost_nanos bigint not null,
        total_cost_nanos bigint not null,
        currency text not null,
        price_status text not null,
        rate_card_id text,
        rate_card_version text,
        price_tier text,
        received_at timestamptz,
        priced_at timestamptz not null,
        primary key (run_id, finished_at)
      )`);
    await q.query('create index if not exists runs_run_id on runs (run_id)');
    await q.query('create index if not exists runs_team_time on runs (team, finished_at desc)');
    await q.query(
      'create index if not exists runs_parent on runs (parent_run_id) where parent_run_id is not null',
    );
    await q.query(`
      create table if not exists spend_hourly (
        bucket timestamptz not null,
        team text not null,
        agent_id text not null,
        customer_id text not null default '',
        feature text not null default '',
        model text not null,
        cost_centre text not null default '',
        currency text not null,
        runs bigint not null,
        successful_runs bigint not null,
        unpriced_runs bigint not null,
        cost_nanos numeric not null,
        input_tokens bigint not null,
        output_tokens bigint not null,
        cache_read_tokens bigint not null,
        primary key (team, bucket, agent_id, customer_id, feature, model, cost_centre, currency)
      )`);
    await q.query('create index if not exists spend_hourly_bucket on spend_hourly (bucket)');

    // hypertables, compression, retention and the continuous aggregates: libs/db/src/timescale.ts
    if (await useTimescale((sql) => q.query(sql)))
      await applyTimescale((sql) => q.query(sql), { aggregates: false });
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop table if exists spend_hourly');
    await q.query('drop table if exists runs');
  }
}

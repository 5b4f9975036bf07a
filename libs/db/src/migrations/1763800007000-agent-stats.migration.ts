import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Agent stats as the aggregator publishes them: one row per agent and day (in the team's time zone) holding the day's
 * latest figures and the baseline before it. Rows only move forward (a record with an older stream time never
 * overwrites a newer one), so replays and redeliveries change nothing. A hypertable on day_start with TimescaleDB.
 */
export class AgentStats1763800007000 implements MigrationInterface {
  name = 'AgentStats1763800007000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table if not exists agent_stats (
        team text not null,
        agent_id text not null,
        day_start timestamptz not null,
        day_end timestamptz not null,
        timezone text not null,
        currency text not null,
        stream_time timestamptz not null,
        spend_nanos bigint not null,
        runs bigint not null,
        successful_runs bigint not null,
        failed_runs bigint not null,
        input_tokens bigint not null,
        output_tokens bigint not null,
        cached_tokens bigint not null,
        unattributed_spend_nanos bigint not null,
        unpriced_runs bigint not null,
        late_runs bigint not null,
        baseline_days integer not null,
        baseline_mean_nanos double precision not null,
        baseline_stddev_nanos double precision not null,
        baseline_cost_per_run_mean_nanos double precision,
        spend_zscore double precision,
        median_session_cost_nanos double precision,
        open_sessions integer not null,
        primary key (team, agent_id, day_start)
      )`);
    await q.query('create index if not exists agent_stats_team_day on agent_stats (team, day_start desc)');
    const { 0: ext } = await q.query(
      "select exists(select 1 from pg_extension where extname = 'timescaledb') as installed",
    );
    if (ext?.installed) {
      await q.query(
        "select create_hypertable('agent_stats', 'day_start', chunk_time_interval => interval '30 days', migrate_data => true, if_not_exists => true)",
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop table if exists agent_stats');
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

const VIEWS = [
  { name: 'spend_by_hour', bucket: '1 hour', start: '3 days', end: '5 minutes', every: '5 minutes' },
  { name: 'spend_by_day', bucket: '1 day', start: '3 days', end: '1 hour', every: '30 minutes' },
];

/**
 * With TimescaleDB: continuous aggregates of spend by hour and by day over `runs`, per team, agent, customer, feature
 * and model, refreshed by policy (for dashboards and ad-hoc SQL; the api reads the exact, idempotently maintained
 * `spend_hourly`, which also exists on plain PostgreSQL). Nothing happens without the extension. Created WITH NO DATA
 * (allowed inside the migration's transaction); the refresh policy fills them.
 */
export class ContinuousAggregates1763800008000 implements MigrationInterface {
  name = 'ContinuousAggregates1763800008000';

  private async timescale(q: QueryRunner): Promise<boolean> {
    const rows = (await q.query(
      "select exists(select 1 from pg_extension where extname = 'timescaledb') as installed",
    )) as { installed: boolean }[];
    return rows[0]?.installed === true;
  }

  async up(q: QueryRunner): Promise<void> {
    if (!(await this.timescale(q))) return;
    for (const v of VIEWS) {
      await q.query(`
        create materialized view if not exists ${v.name}
        with (timescaledb.continuous) as
        select time_bucket(interval '${v.bucket}', finished_at) as bucket, team, agent_id, customer_id, feature, model,
          currency, count(*) as runs, count(*) filter (where status = 'success') as successful_runs,
          sum(total_cost_nanos) as cost_nanos, sum(uncached_input_tokens + cache_read_tokens + cache_write_tokens) as input_tokens,
          sum(output_tokens) as output_tokens
        from runs
        group by bucket, team, agent_id, customer_id, feature, model, currency
        with no data`);
      await q.query(
        `select add_continuous_aggregate_policy('${v.name}', start_offset => interval '${v.start}',
           end_offset => interval '${v.end}', schedule_interval => interval '${v.every}', if_not_exists => true)`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    if (!(await this.timescale(q))) return;
    for (const v of VIEWS) await q.query(`drop materialized view if exists ${v.name}`);
  }
}

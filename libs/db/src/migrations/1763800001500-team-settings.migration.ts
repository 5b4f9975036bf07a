import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Per-team settings (detector thresholds, baseline, time zone, success threshold) and budgets. */
export class TeamSettings1763800001500 implements MigrationInterface {
  name = 'TeamSettings1763800001500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table if not exists team_settings (
        team text primary key,
        zscore_threshold double precision not null default 2.5,
        baseline_days integer not null default 14 check (baseline_days between 3 and 60),
        min_history_days integer not null default 7 check (min_history_days >= 1),
        timezone text not null default 'UTC',
        quality_threshold double precision not null default 0 check (quality_threshold between 0 and 1),
        min_excess_nanos bigint not null default 1000000000,
        updated_at timestamptz not null default now()
      )`);
    await q.query(`
      create table if not exists budgets (
        id bigserial primary key,
        team text not null,
        scope text not null check (scope in ('team', 'agent', 'customer')),
        subject text not null default '',
        period text not null check (period in ('day', 'month')),
        amount_nanos bigint not null check (amount_nanos > 0),
        currency text not null,
        unique (team, scope, subject, period)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop table if exists budgets');
    await q.query('drop table if exists team_settings');
  }
}

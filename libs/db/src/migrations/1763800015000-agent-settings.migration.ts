import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-agent overrides of the team's detector settings: a null column or a parameter absent from detector_rules (the
 * rule parameters, in the team JSON's shape) is the team's. A plain table on PostgreSQL and TimescaleDB alike: a few
 * rows per team, read whole by the detector and aggregator when their fingerprint changes.
 */
export class AgentSettings1763800015000 implements MigrationInterface {
  name = 'AgentSettings1763800015000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table if not exists agent_settings (
        team text not null,
        agent_id text not null,
        zscore_threshold double precision null,
        baseline_days integer null,
        min_history_days integer null,
        detector_rules jsonb not null default '{}'::jsonb,
        updated_at timestamptz not null default now(),
        primary key (team, agent_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop table if exists agent_settings');
  }
}

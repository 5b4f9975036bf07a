import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A run_id is unique within its team, not across teams: `runs` was keyed by (run_id, finished_at), so a second team's
 * run with the same id and time (two producers numbering their runs 1, 2, 3...) was taken for a duplicate and
 * silently dropped. The key becomes (team, run_id, finished_at); the time column stays in it, as hypertables require.
 * Works on compressed TimescaleDB chunks as on plain tables.
 */
export class RunsKeyPerTeam1763800009000 implements MigrationInterface {
  name = 'RunsKeyPerTeam1763800009000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('alter table runs drop constraint if exists runs_pkey');
    await q.query('alter table runs add constraint runs_pkey primary key (team, run_id, finished_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    // Fails (PostgreSQL names the key) if two teams now share a run_id and time, rather than drop one of their runs.
    await q.query('alter table runs drop constraint if exists runs_pkey');
    await q.query('alter table runs add constraint runs_pkey primary key (run_id, finished_at)');
  }
}

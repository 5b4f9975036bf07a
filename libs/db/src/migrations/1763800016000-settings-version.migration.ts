import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One number that moves with every change to a team's settings, budgets or agent overrides, in the transaction that
 * makes it (statement triggers): the aggregator and the detector read it before each batch, so a run that arrives
 * after a settings PUT has answered is judged by the settings it set (the PUT commits, then answers; the run's batch
 * is read after). Reading it is one row by primary key, cheap enough for every batch; the fingerprint it replaces
 * aggregated the three tables.
 */
export class SettingsVersion1763800016000 implements MigrationInterface {
  name = 'SettingsVersion1763800016000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table if not exists settings_version (
        id boolean primary key default true check (id),
        version bigint not null default 0
      )`);
    await q.query('insert into settings_version (id, version) values (true, 0) on conflict (id) do nothing');
    await q.query(`
      create or replace function burnrate_bump_settings_version() returns trigger language plpgsql as $$
      begin
        update settings_version set version = version + 1 where id;
        return null;
      end $$`);
    for (const table of ['team_settings', 'budgets', 'agent_settings']) {
      await q.query(`drop trigger if exists ${table}_version on ${table}`);
      await q.query(
        `create trigger ${table}_version after insert or update or delete or truncate on ${table}
           for each statement execute function burnrate_bump_settings_version()`,
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['team_settings', 'budgets', 'agent_settings'])
      await q.query(`drop trigger if exists ${table}_version on ${table}`);
    await q.query('drop function if exists burnrate_bump_settings_version()');
    await q.query('drop table if exists settings_version');
  }
}

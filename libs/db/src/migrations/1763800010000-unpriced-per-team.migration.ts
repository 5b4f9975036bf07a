import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * unpriced_models becomes per team, keyed (team, provider, model), so a team key lists only its own models. The rows are
 * rebuilt from `runs`, from which the recorder now counts them: the old counts came from pricing, written outside its
 * Kafka transaction (a retried batch counted twice), and had no team. Plain SQL, so `runs` may be a hypertable.
 */
export class UnpricedPerTeam1763800010000 implements MigrationInterface {
  name = 'UnpricedPerTeam1763800010000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('alter table unpriced_models drop constraint if exists unpriced_models_pkey');
    await q.query('delete from unpriced_models');
    await q.query('alter table unpriced_models add column team text not null');
    await q.query(`
      insert into unpriced_models (team, provider, model, runs, first_seen, last_seen)
      select team, provider, model, count(*), min(finished_at), max(finished_at)
      from runs where price_status = 'unpriced'
      group by team, provider, model`);
    await q.query(
      'alter table unpriced_models add constraint unpriced_models_pkey primary key (team, provider, model)',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('alter table unpriced_models drop constraint if exists unpriced_models_pkey');
    await q.query(`
      with per_team as (delete from unpriced_models returning provider, model, runs, first_seen, last_seen)
      insert into unpriced_models (team, provider, model, runs, first_seen, last_seen)
      select '', provider, model, sum(runs), min(first_seen), max(last_seen) from per_team group by provider, model`);
    await q.query('alter table unpriced_models drop column team');
    await q.query(
      'alter table unpriced_models add constraint unpriced_models_pkey primary key (provider, model)',
    );
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The price dataset the rate card's rows were last refreshed from (`seed-rate-card --latest`, or the bundled one), one
 * row: the services install it as the matcher's data, so a model is matched by the same dataset its row came from.
 * No row: the data bundled with @pydantic/genai-prices, as before.
 */
export class RateCardDataset1763800012000 implements MigrationInterface {
  name = 'RateCardDataset1763800012000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table if not exists rate_card_dataset (
        id int primary key default 1 check (id = 1),
        version text not null,
        fetched_at timestamptz not null,
        source_url text not null,
        data jsonb not null
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop table if exists rate_card_dataset');
  }
}

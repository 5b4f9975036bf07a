import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The rate card keeps every model of the price dataset as one row per price list, with the dataset's conditional
 * prices (a change on a date, off-peak hours) in `variants`, keyed by the provider that owns the model in the dataset.
 * The rows of the old import (token-priced models of ten providers, a row per start date, time-of-day prices dropped)
 * are removed here and the migrate step seeds the new ones; overrides are kept. Stored runs keep the `rate_card_id`
 * they were priced with.
 */
export class RateCardVariants1763800011000 implements MigrationInterface {
  name = 'RateCardVariants1763800011000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`alter table rate_card add column if not exists variants jsonb not null default '[]'`);
    await q.query(`delete from rate_card where source = 'genai-prices'`);
    await q.query('create index if not exists rate_card_model on rate_card (provider, model_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop index if exists rate_card_model');
    await q.query(`delete from rate_card where source = 'genai-prices'`);
    await q.query('alter table rate_card drop column if exists variants');
  }
}

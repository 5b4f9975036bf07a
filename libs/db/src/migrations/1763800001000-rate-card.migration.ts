import type { MigrationInterface, QueryRunner } from 'typeorm';

export class RateCard1763800001000 implements MigrationInterface {
  name = 'RateCard1763800001000';

  async up(q: QueryRunner): Promise<void> {
    // Rates are integer nano-units of the currency per million tokens ($3/MTok = 3000000000).
    await q.query(`
      create table if not exists rate_card (
        id text primary key,
        source text not null check (source in ('genai-prices', 'override')),
        provider text not null,
        model_id text not null,
        match jsonb not null,
        priority integer not null default 0,
        effective_from timestamptz not null,
        effective_to timestamptz,
        currency text not null default 'USD',
        input_rate bigint not null,
        output_rate bigint not null,
        cache_read_rate bigint,
        cache_write_rate bigint,
        cache_write_1h_rate bigint,
        tiers jsonb not null default '[]',
        multiplier numeric,
        version text not null,
        note text,
        updated_at timestamptz not null default now()
      )`);
    await q.query('create index if not exists rate_card_provider on rate_card (provider)');
    await q.query(`
      create table if not exists unpriced_models (
        provider text not null,
        model text not null,
        runs bigint not null default 0,
        first_seen timestamptz not null,
        last_seen timestamptz not null,
        primary key (provider, model)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop table if exists unpriced_models');
    await q.query('drop table if exists rate_card');
  }
}

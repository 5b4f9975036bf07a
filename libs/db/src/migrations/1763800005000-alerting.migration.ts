import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Alert routes and the durable delivery outbox (pending retries survive restarts; replicas claim rows with SKIP LOCKED). */
export class Alerting1763800005000 implements MigrationInterface {
  name = 'Alerting1763800005000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table if not exists alert_routes (
        id uuid primary key,
        team text,
        match jsonb not null default '{}',
        destinations jsonb not null,
        source text not null default 'api',
        created_at timestamptz not null default now()
      )`);
    await q.query(`
      create table if not exists alert_outbox (
        id bigserial primary key,
        delivery_id text not null unique,
        anomaly_id text not null,
        dedupe_key text not null,
        destination_key text not null,
        destination jsonb not null,
        anomaly jsonb not null,
        state text not null default 'pending' check (state in ('pending', 'delivered', 'failed', 'suppressed')),
        attempts integer not null default 0,
        next_attempt_at timestamptz not null default now(),
        last_status integer,
        last_error text,
        created_at timestamptz not null default now(),
        finished_at timestamptz
      )`);
    await q.query(
      "create index if not exists alert_outbox_due on alert_outbox (next_attempt_at) where state = 'pending'",
    );
    await q.query(
      'create index if not exists alert_outbox_dedupe on alert_outbox (dedupe_key, destination_key)',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop table if exists alert_outbox');
    await q.query('drop table if exists alert_routes');
  }
}

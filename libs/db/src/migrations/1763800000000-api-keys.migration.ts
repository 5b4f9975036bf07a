import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ApiKeys1763800000000 implements MigrationInterface {
  name = 'ApiKeys1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table if not exists api_keys (
        id uuid primary key,
        team text not null,
        name text not null,
        role text not null check (role in ('team', 'admin')),
        prefix text not null unique,
        key_hash bytea not null,
        created_at timestamptz not null default now(),
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    await q.query('create index if not exists api_keys_team on api_keys (team)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop table if exists api_keys');
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit of manual guard blocks (POST and DELETE /v1/guard/blocks): who blocked which agent (optionally for one
 * customer or tool), why and until when, and who lifted it. The block in force is the api's record on the compacted
 * agent-controls topic; a row is committed only once that record is acknowledged. A plain table on PostgreSQL and
 * TimescaleDB alike: listed per team, newest first, by (created_at, id).
 */
export class GuardBlocks1763800018500 implements MigrationInterface {
  name = 'GuardBlocks1763800018500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table if not exists guard_blocks (
        id uuid primary key,
        team text not null,
        agent_id text not null,
        customer_id text null,
        tool text null,
        reason text not null,
        until timestamptz null,
        created_by_key_id uuid not null,
        created_at timestamptz not null default now(),
        lifted_by_key_id uuid null,
        lifted_at timestamptz null
      )`);
    await q.query(
      'create index if not exists guard_blocks_team_created on guard_blocks (team, created_at desc, id desc)',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop table if exists guard_blocks');
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A budget can block its scope at 100% (the guard): the detector publishes an AgentControl until the period ends. */
export class BudgetBlock1763800018600 implements MigrationInterface {
  name = 'BudgetBlock1763800018600';

  async up(q: QueryRunner): Promise<void> {
    await q.query('alter table budgets add column if not exists block_at_100 boolean not null default false');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('alter table budgets drop column if exists block_at_100');
  }
}

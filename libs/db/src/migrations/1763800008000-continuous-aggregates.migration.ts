import type { MigrationInterface, QueryRunner } from 'typeorm';
import { applyTimescale, CONTINUOUS_AGGREGATES } from '../timescale';

/**
 * With TimescaleDB: the continuous aggregates spend_by_hour and spend_by_day over `runs`, per team, agent, customer,
 * feature and model (for dashboards and ad-hoc SQL; the api reads the exact, idempotently maintained `spend_hourly`,
 * which also exists on plain PostgreSQL). Defined in libs/db/src/timescale.ts (applyTimescale), with the rest of what
 * TimescaleDB adds; skipped on plain PostgreSQL and on Apache-only builds.
 */
export class ContinuousAggregates1763800008000 implements MigrationInterface {
  name = 'ContinuousAggregates1763800008000';

  async up(q: QueryRunner): Promise<void> {
    await applyTimescale((sql) => q.query(sql));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const v of CONTINUOUS_AGGREGATES) await q.query(`drop materialized view if exists ${v.name}`);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';
import { applyTimescale } from '../timescale';

/**
 * With TimescaleDB: what libs/db/src/timescale.ts adds, once more. For an installation made before it, the continuous
 * aggregates' refresh policies, which covered the last 3 days (a run stored later than that never reached them), are
 * replaced by ones covering all history, and they read real time. Nothing on plain PostgreSQL.
 */
export class TimescaleLateRuns1763800017000 implements MigrationInterface {
  name = 'TimescaleLateRuns1763800017000';

  async up(q: QueryRunner): Promise<void> {
    await applyTimescale((sql) => q.query(sql));
  }

  async down(): Promise<void> {
    // the policies stay as they are: the earlier ones missed late runs
  }
}

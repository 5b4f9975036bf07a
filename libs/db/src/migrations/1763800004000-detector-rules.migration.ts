import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Per-team detector rule parameters beyond the team_settings columns (JSON, merged over the detector's defaults). */
export class DetectorRules1763800004000 implements MigrationInterface {
  name = 'DetectorRules1763800004000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `alter table team_settings add column if not exists detector_rules jsonb not null default '{}'::jsonb`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('alter table team_settings drop column if exists detector_rules');
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Destinations the alert router stops paging: a webhook receiver answering 410 Gone asks the sender to stop (Standard
 * Webhooks). Keyed by the destination key (a hash of the destination, as in alert_outbox; never its secrets), so one
 * row disables that destination in every route holding it; `POST /v1/routes/{id}/destinations/{index}/enable` deletes
 * the row.
 */
export class DestinationStatus1763800014000 implements MigrationInterface {
  name = 'DestinationStatus1763800014000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table if not exists alert_destination_status (
        destination_key text primary key,
        disabled_at timestamptz not null,
        reason text not null
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop table if exists alert_destination_status');
  }
}

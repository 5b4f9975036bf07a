import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Incidents: the detector joins the signals about one agent (or budget scope) that are open together into one
 * incident, and the alert router pages once per incident. The outbox keeps, per row, the incident and what the row does
 * to it (trigger, update, resolve), so a destination gets an incident's deliveries in order, one at a time; 'accepted'
 * is the outcome of a destination that queues the message and posts it later (Teams Workflows' 202). The recorder keeps
 * each anomaly's incident for GET /v1/incidents. Rows written before have their dedupe key as their incident.
 */
export class Incidents1763800013000 implements MigrationInterface {
  name = 'Incidents1763800013000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('alter table alert_outbox add column if not exists incident_key text');
    await q.query('alter table alert_outbox add column if not exists action text');
    await q.query(`
      update alert_outbox set incident_key = dedupe_key,
        action = case anomaly->>'state' when 'resolved' then 'resolve' when 'escalated' then 'update' else 'trigger' end
      where incident_key is null`);
    await q.query('alter table alert_outbox alter column incident_key set not null');
    await q.query('alter table alert_outbox alter column action set not null');
    await q.query(
      "alter table alert_outbox add constraint alert_outbox_action check (action in ('trigger', 'update', 'resolve'))",
    );
    await q.query('alter table alert_outbox drop constraint if exists alert_outbox_state_check');
    await q.query(
      "alter table alert_outbox add constraint alert_outbox_state_check check (state in ('pending', 'delivered', 'accepted', 'failed', 'suppressed'))",
    );
    await q.query(
      "create index if not exists alert_outbox_incident on alert_outbox (incident_key, destination_key, id) where state = 'pending'",
    );
    await q.query(
      'create index if not exists alert_outbox_incident_all on alert_outbox (incident_key, destination_key)',
    );
    await q.query('alter table anomalies add column if not exists incident_id text');
    await q.query(
      'create index if not exists anomalies_incident on anomalies (team, incident_id, detected_at) where incident_id is not null',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop index if exists anomalies_incident');
    await q.query('alter table anomalies drop column if exists incident_id');
    await q.query('drop index if exists alert_outbox_incident_all');
    await q.query('drop index if exists alert_outbox_incident');
    await q.query("delete from alert_outbox where state = 'accepted'");
    await q.query('alter table alert_outbox drop constraint if exists alert_outbox_state_check');
    await q.query(
      "alter table alert_outbox add constraint alert_outbox_state_check check (state in ('pending', 'delivered', 'failed', 'suppressed'))",
    );
    await q.query('alter table alert_outbox drop constraint if exists alert_outbox_action');
    await q.query('alter table alert_outbox drop column if exists action');
    await q.query('alter table alert_outbox drop column if exists incident_key');
  }
}

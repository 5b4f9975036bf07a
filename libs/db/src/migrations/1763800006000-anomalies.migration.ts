import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Anomalies and alert delivery attempts, as the recorder stores them (idempotent on their ids, time in the key). */
export class Anomalies1763800006000 implements MigrationInterface {
  name = 'Anomalies1763800006000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table if not exists anomalies (
        anomaly_id text not null,
        detected_at timestamptz not null,
        dedupe_key text not null,
        rule text not null,
        severity text not null,
        state text not null,
        team text not null,
        agent_id text,
        window_start timestamptz not null,
        window_end timestamptz not null,
        observed double precision not null,
        threshold double precision not null,
        baseline_mean double precision,
        baseline_stddev double precision,
        zscore double precision,
        currency text,
        summary text not null,
        late boolean not null,
        record jsonb not null,
        primary key (anomaly_id, detected_at)
      )`);
    await q.query('create index if not exists anomalies_team_time on anomalies (team, detected_at desc)');
    await q.query(`
      create table if not exists alert_deliveries (
        delivery_id text not null,
        attempt integer not null,
        outcome text not null,
        at timestamptz not null,
        anomaly_id text not null,
        dedupe_key text not null,
        team text not null,
        agent_id text,
        rule text not null,
        state text not null,
        destination_type text not null,
        destination text not null,
        http_status integer,
        error text,
        latency_ms bigint,
        primary key (delivery_id, attempt, outcome, at)
      )`);
    await q.query(
      'create index if not exists alert_deliveries_team_time on alert_deliveries (team, at desc)',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('drop table if exists alert_deliveries');
    await q.query('drop table if exists anomalies');
  }
}

import type { Pool } from 'pg';
import { SecretBox } from '@libs/secrets';
import { openDestination } from './destination-secrets';
import type { DeliveryAction } from './incident';
import type { Anomaly, Destination } from './types';

export interface OutboxRow {
  id: string;
  delivery_id: string;
  anomaly_id: string;
  dedupe_key: string;
  /** The incident (opaque): one destination gets an incident's rows in order, one at a time. */
  incident_key: string;
  action: DeliveryAction;
  destination_key: string;
  destination: Destination;
  anomaly: Anomaly;
  /** Bumped by every claim: the fencing token of this replica's lease on the row. */
  attempts: number;
  /** When the delivery was queued: its age decides when retrying it is given up. */
  created_at: Date;
  /** Set when the destination's secrets cannot be opened (sealed with a key this process lacks): it cannot be sent. */
  unreadable?: string;
}

/** `accepted`: the destination queued the message to post it later (Teams Workflows' 202); not known to be shown. */
export type FinalState = 'delivered' | 'accepted' | 'failed' | 'suppressed';

/**
 * The delivery outbox as the worker sees it. A claim leases due rows (next_attempt_at moved past the lease, attempts
 * bumped); every later write is conditional on the row still pending with the attempts of that claim, so a replica
 * whose lease ran out and was claimed by another writes nothing (each returns whether it still held the row).
 */
export class AlertOutboxRepository {
  /** Destinations are stored sealed (the anomaly consumer seals them); rows come back open. */
  constructor(
    private readonly pool: Pool,
    private readonly secrets: SecretBox = SecretBox.fromEnv(),
  ) {}

  /**
   * Due rows, oldest first, at most `perDestination` of any one destination (a backlog for one endpoint does not crowd
   * out the others), leaving out the destinations this replica is still working through. Of one incident's rows for
   * one destination only the oldest pending one is due: an update or a resolve waits until the row before it (the
   * trigger, in backoff or not) has its outcome, so a destination sees an incident's deliveries in order.
   */
  async claim(
    limit: number,
    perDestination: number,
    busyDestinations: readonly string[],
    leaseMs: number,
  ): Promise<OutboxRow[]> {
    const { rows } = await this.pool.query<OutboxRow>(
      `with due as (
         select id, destination_key from alert_outbox o
         where state = 'pending' and next_attempt_at <= now() and destination_key <> all($3::text[])
           and not exists (
             select 1 from alert_outbox e
             where e.incident_key = o.incident_key and e.destination_key = o.destination_key and e.state = 'pending'
               and e.id < o.id)
         order by id limit $1::int * $2::int for update skip locked
       ), picked as (
         select id from (select id, row_number() over (partition by destination_key order by id) as n from due) ranked
         where n <= $2::int order by id limit $1::int
       )
       update alert_outbox o set next_attempt_at = now() + ($4::int * interval '1 millisecond'), attempts = o.attempts + 1
       from picked where o.id = picked.id
       returning o.id, o.delivery_id, o.anomaly_id, o.dedupe_key, o.incident_key, o.action, o.destination_key, o.destination,
         o.anomaly, o.attempts, o.created_at`,
      [limit, perDestination, busyDestinations, leaseMs],
    );
    return rows
      .map((r) => {
        try {
          return { ...r, destination: openDestination(this.secrets, r.destination) };
        } catch (err) {
          return { ...r, unreadable: (err as Error).message };
        }
      })
      .sort((a, b) => Number(a.id) - Number(b.id));
  }

  async pendingCount(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      "select count(*) as n from alert_outbox where state = 'pending'",
    );
    return Number(rows[0].n);
  }

  /** Extends the lease right before a send, so it covers the send; false when another replica holds the row. */
  async renew(row: OutboxRow, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update alert_outbox set next_attempt_at = now() + ($3::int * interval '1 millisecond')
       where id = $1 and attempts = $2 and state = 'pending'`,
      [row.id, row.attempts, leaseMs],
    );
    return rowCount === 1;
  }

  /**
   * Where each incident was paged: the sealed destinations of its triggers that are delivered, accepted or still
   * pending (a trigger in backoff still goes, and its update or resolve waits for it), by incident key.
   */
  async pagedDestinations(incidentKeys: readonly string[]): Promise<Map<string, Map<string, unknown>>> {
    const out = new Map<string, Map<string, unknown>>();
    if (incidentKeys.length === 0) return out;
    const { rows } = await this.pool.query<{
      incident_key: string;
      destination_key: string;
      destination: unknown;
    }>(
      `select distinct on (incident_key, destination_key) incident_key, destination_key, destination from alert_outbox
       where incident_key = any($1::text[]) and action = 'trigger' and state in ('pending', 'delivered', 'accepted')
       order by incident_key, destination_key, id`,
      [incidentKeys],
    );
    for (const r of rows) {
      const m = out.get(r.incident_key) ?? new Map<string, unknown>();
      m.set(r.destination_key, r.destination);
      out.set(r.incident_key, m);
    }
    return out;
  }

  /** Whether this incident's trigger reached this destination (delivered or accepted): an update or resolve may go. */
  async triggerReached(row: OutboxRow): Promise<boolean> {
    const { rows } = await this.pool.query(
      `select 1 from alert_outbox where incident_key = $1 and destination_key = $2 and action = 'trigger'
         and state in ('delivered', 'accepted') limit 1`,
      [row.incident_key, row.destination_key],
    );
    return rows.length > 0;
  }

  /** Every record of an incident the router has seen, in order (the signals a resolve lists). */
  async incidentRecords(incidentKey: string): Promise<Anomaly[]> {
    const { rows } = await this.pool.query<{ anomaly: Anomaly }>(
      `select distinct on (anomaly_id) anomaly_id, anomaly, id from alert_outbox where incident_key = $1
       order by anomaly_id, id`,
      [incidentKey],
    );
    return rows.map((r) => r.anomaly).sort((a, b) => a.detected_at - b.detected_at);
  }

  async finish(
    row: OutboxRow,
    state: FinalState,
    status: number | null,
    error: string | null,
  ): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update alert_outbox set state = $3, last_status = $4, last_error = $5, finished_at = now()
       where id = $1 and attempts = $2 and state = 'pending'`,
      [row.id, row.attempts, state, status, error],
    );
    return rowCount === 1;
  }

  async reschedule(row: OutboxRow, delayMs: number, status: number | null, error: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update alert_outbox set next_attempt_at = now() + ($3::int * interval '1 millisecond'), last_status = $4, last_error = $5
       where id = $1 and attempts = $2 and state = 'pending'`,
      [row.id, row.attempts, delayMs, status, error],
    );
    return rowCount === 1;
  }

  /** Claimed rows never started (shutting down): due again at once, for any replica. */
  async release(rows: readonly OutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.pool.query(
      `update alert_outbox o set next_attempt_at = now()
       from unnest($1::bigint[], $2::int[]) as x(id, attempts)
       where o.id = x.id and o.attempts = x.attempts and o.state = 'pending'`,
      [rows.map((r) => r.id), rows.map((r) => r.attempts)],
    );
  }
}

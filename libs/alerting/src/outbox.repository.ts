import type { Pool } from 'pg';
import { SecretBox } from '@libs/secrets';
import { openDestination } from './destination-secrets';
import type { Anomaly, Destination } from './types';

export interface OutboxRow {
  id: string;
  delivery_id: string;
  anomaly_id: string;
  dedupe_key: string;
  destination_key: string;
  destination: Destination;
  anomaly: Anomaly;
  /** Bumped by every claim: the fencing token of this replica's lease on the row. */
  attempts: number;
  /** Set when the destination's secrets cannot be opened (sealed with a key this process lacks): it cannot be sent. */
  unreadable?: string;
}

export type FinalState = 'delivered' | 'failed' | 'suppressed';

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
   * out the others), leaving out the destinations this replica is still working through.
   */
  async claim(
    limit: number,
    perDestination: number,
    busyDestinations: readonly string[],
    leaseMs: number,
  ): Promise<OutboxRow[]> {
    const { rows } = await this.pool.query<OutboxRow>(
      `with due as (
         select id, destination_key from alert_outbox
         where state = 'pending' and next_attempt_at <= now() and destination_key <> all($3::text[])
         order by id limit $1::int * $2::int for update skip locked
       ), picked as (
         select id from (select id, row_number() over (partition by destination_key order by id) as n from due) ranked
         where n <= $2::int order by id limit $1::int
       )
       update alert_outbox o set next_attempt_at = now() + ($4::int * interval '1 millisecond'), attempts = o.attempts + 1
       from picked where o.id = picked.id
       returning o.id, o.delivery_id, o.anomaly_id, o.dedupe_key, o.destination_key, o.destination, o.anomaly, o.attempts`,
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

  /** Whether the same incident already reached this destination within the interval (another delivery). */
  async deliveredWithin(row: OutboxRow, ms: number): Promise<boolean> {
    const { rows } = await this.pool.query(
      `select 1 from alert_outbox where dedupe_key = $1 and destination_key = $2 and state = 'delivered'
         and delivery_id <> $3 and finished_at > now() - ($4::bigint * interval '1 millisecond') limit 1`,
      [row.dedupe_key, row.destination_key, row.delivery_id, ms],
    );
    return rows.length > 0;
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

import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Pool } from 'pg';
import {
  buildRequest,
  classify,
  emailContent,
  maskDestination,
  type Anomaly,
  type Destination,
} from '@libs/alerting';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics } from '@libs/contracts';
import { PG_POOL } from '@libs/db';
import { KafkaService } from '@libs/kafka';
import { JsonLogger, Metrics } from '@libs/observability';
import { alertRouterSpec } from './alert-router.config';

interface OutboxRow {
  id: string;
  delivery_id: string;
  anomaly_id: string;
  dedupe_key: string;
  destination_key: string;
  destination: Destination;
  anomaly: Anomaly;
  attempts: number;
}

/** Minimum spacing per destination: Slack about one message a second, PagerDuty 120 a minute per key. */
const SPACING_MS: Record<Destination['type'], number> = {
  slack: 1000,
  pagerduty: 500,
  teams: 500,
  webhook: 0,
  email: 0,
};

/**
 * Delivers the outbox: claims due rows (FOR UPDATE SKIP LOCKED, with a lease so a crashed worker's rows come back),
 * sends each as its vendor documents, and records every attempt on burnrate.alert-deliveries.v1. Retries back off
 * exponentially with jitter and honour Retry-After; a 4xx other than 408/429 fails at once; the last failure is kept.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly lastSent = new Map<string, number>();
  private readonly mailer: Transporter | null;
  private readonly log: JsonLogger;
  private readonly deliveries;
  private readonly attempts;
  private readonly latency;
  private readonly queueDepth;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigOf<typeof alertRouterSpec>,
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly kafka: KafkaService,
    logger: JsonLogger,
    metrics: Metrics,
  ) {
    this.log = logger.child({ component: 'delivery' });
    this.mailer = config.SMTP_URL ? nodemailer.createTransport(config.SMTP_URL) : null;
    this.deliveries = metrics.counter('burnrate_alert_deliveries_total', 'Delivery outcomes', [
      'destination',
      'outcome',
    ] as const);
    this.attempts = metrics.counter('burnrate_alert_delivery_attempts_total', 'Delivery attempts', [
      'destination',
    ] as const);
    this.latency = metrics.histogram(
      'burnrate_alert_delivery_latency_seconds',
      'Detection to delivery',
      ['destination'] as const,
      [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    );
    this.queueDepth = metrics.gauge('burnrate_alert_queue_depth', 'Deliveries pending (including retries)');
  }

  private woken = false;

  onApplicationBootstrap(): void {
    this.tick();
  }

  private readonly tick = (): void => {
    if (this.stopped) return;
    this.woken = false;
    this.running = this.poll()
      .catch((err: unknown) => this.log.error('delivery poll failed', { err: (err as Error).message }))
      .finally(() => {
        this.running = null;
        if (this.stopped) return;
        // rows queued while this poll ran are claimed at once, not a poll interval later
        if (this.woken) setImmediate(this.tick);
        else this.timer = setTimeout(this.tick, this.config.POLL_MS);
      });
  };

  /** New rows are in the outbox: poll now instead of at the next interval (the poll is the only path either way). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.woken = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.tick();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private async poll(): Promise<void> {
    const { rows } = await this.pool.query<OutboxRow>(
      `update alert_outbox set next_attempt_at = now() + interval '60 seconds', attempts = attempts + 1
       where id in (select id from alert_outbox where state = 'pending' and next_attempt_at <= now()
                    order by id limit 50 for update skip locked)
       returning id, delivery_id, anomaly_id, dedupe_key, destination_key, destination, anomaly, attempts`,
    );
    const depth = await this.pool.query<{ n: string }>(
      "select count(*) as n from alert_outbox where state = 'pending'",
    );
    this.queueDepth.set(Number(depth.rows[0].n));
    for (const row of rows.sort((a, b) => Number(a.id) - Number(b.id))) await this.deliver(row);
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const d = row.destination;
    const a = row.anomaly;
    if (a.state === 'firing') {
      const { rows } = await this.pool.query(
        `select 1 from alert_outbox where dedupe_key = $1 and destination_key = $2 and state = 'delivered'
           and delivery_id <> $3 and finished_at > now() - ($4::bigint * interval '1 millisecond') limit 1`,
        [row.dedupe_key, row.destination_key, row.delivery_id, this.config.RENOTIFY_MS],
      );
      if (rows.length > 0)
        return this.finish(row, 'suppressed', null, 'already paged within the re-notify interval');
    }
    const wait = (this.lastSent.get(row.destination_key) ?? 0) + SPACING_MS[d.type] - Date.now();
    if (wait > 0) {
      await this.pool.query(
        "update alert_outbox set attempts = attempts - 1, next_attempt_at = now() + ($2::int * interval '1 millisecond') where id = $1",
        [row.id, wait],
      );
      return;
    }
    this.lastSent.set(row.destination_key, Date.now());
    this.attempts.inc({ destination: d.type });
    let status: number | null = null;
    let retryAfter: string | null = null;
    let error: string | undefined;
    try {
      if (d.type === 'email') {
        if (!this.mailer) throw new Error('SMTP_URL is not configured');
        const mail = emailContent(a, this.context(row));
        await this.mailer.sendMail({
          from: this.config.SMTP_FROM,
          to: d.to,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
        });
        status = 200; // the SMTP server accepted the message
      } else {
        const req = buildRequest(d, a, this.context(row));
        const res = await fetch(req.url, {
          method: 'POST',
          headers: req.headers,
          body: req.body,
          signal: AbortSignal.timeout(this.config.HTTP_TIMEOUT_MS),
        });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        await res.arrayBuffer().catch(() => undefined);
      }
    } catch (err) {
      error = (err as Error).message;
    }
    const outcome = classify(
      row.attempts,
      { status, retryAfter, error },
      {
        maxAttempts: this.config.MAX_ATTEMPTS,
        baseDelayMs: this.config.RETRY_BASE_MS,
        maxDelayMs: 5 * 60_000,
      },
    );
    if (outcome.kind === 'delivered') return this.finish(row, 'delivered', status, null);
    if (outcome.kind === 'failed') return this.finish(row, 'failed', status, outcome.error);
    await this.pool.query(
      `update alert_outbox set next_attempt_at = now() + ($2::int * interval '1 millisecond'), last_status = $3, last_error = $4 where id = $1`,
      [row.id, outcome.delayMs, status, outcome.error],
    );
    await this.record(row, 'retrying', status, outcome.error);
  }

  private context(row: OutboxRow) {
    return {
      apiUrl: this.config.PUBLIC_API_URL,
      deliveryId: row.delivery_id,
      now: Date.now(),
      pagerDutyUrl: this.config.PAGERDUTY_EVENTS_URL,
    };
  }

  private async finish(
    row: OutboxRow,
    state: 'delivered' | 'failed' | 'suppressed',
    status: number | null,
    error: string | null,
  ): Promise<void> {
    await this.pool.query(
      'update alert_outbox set state = $2, last_status = $3, last_error = $4, finished_at = now() where id = $1',
      [row.id, state, status, error],
    );
    if (state === 'delivered')
      this.latency.observe(
        { destination: row.destination.type },
        (Date.now() - row.anomaly.detected_at) / 1000,
      );
    if (state === 'failed')
      this.log.warn('delivery failed', {
        delivery_id: row.delivery_id,
        destination: maskDestination(row.destination),
        error,
      });
    await this.record(row, state, status, error);
  }

  private async record(
    row: OutboxRow,
    outcome: string,
    status: number | null,
    error: string | null,
  ): Promise<void> {
    this.deliveries.inc({ destination: row.destination.type, outcome });
    const a = row.anomaly;
    const value = {
      delivery_id: row.delivery_id,
      anomaly_id: row.anomaly_id,
      dedupe_key: row.dedupe_key,
      team: a.team,
      agent_id: a.agent_id ?? null,
      rule: a.rule,
      state: a.state,
      destination_type: row.destination.type,
      destination: JSON.stringify(maskDestination(row.destination)),
      attempt: row.attempts,
      outcome,
      http_status: status,
      error,
      latency_ms: Math.max(0, Date.now() - a.detected_at),
      at: Date.now(),
    };
    await this.kafka.producer
      .send([
        {
          topic: Topics.alertDeliveries.name,
          key: row.dedupe_key,
          value: this.kafka.serde.encode(Topics.alertDeliveries, value),
        },
      ])
      .catch((err: unknown) =>
        this.log.error('could not record a delivery', { err: (err as Error).message }),
      );
  }
}

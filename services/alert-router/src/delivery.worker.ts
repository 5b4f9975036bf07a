import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Pool } from 'pg';
import {
  AlertOutboxRepository,
  DeliveryLanes,
  DestinationAllowList,
  DestinationClient,
  DestinationGuard,
  DestinationRefusedError,
  RouteRepository,
  buildRequest,
  emailContent,
  interpretResponse,
  interpretSmtp,
  maskDestination,
  nextAttempt,
  opaqueId,
  type DeliveryOutcome,
  type Destination,
  type MessageContext,
  type FinalState,
  type OutboxRow,
  type RetrySchedules,
} from '@libs/alerting';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics } from '@libs/contracts';
import { PG_POOL } from '@libs/db';
import { KafkaService } from '@libs/kafka';
import { JsonLogger, Metrics } from '@libs/observability';
import { alertRouterSpec } from './alert-router.config';
import { smtpTransportOptions } from './smtp-transport';

/** Minimum spacing per destination: Slack about one message a second, PagerDuty 120 a minute per key. */
const SPACING_MS: Record<Destination['type'], number> = {
  slack: 1000,
  pagerduty: 500,
  teams: 500,
  webhook: 0,
  email: 0,
};

/** Rows claimed per poll, of which at most PER_DESTINATION for one destination. */
const CLAIM_LIMIT = 50;
const PER_DESTINATION = 10;
/** No new claim while this many lanes per DELIVERY_CONCURRENCY slot are queued: claimed rows wait in memory. */
const LANES_PER_SLOT = 4;
/** How long a claimed row is this replica's before it starts; renewed before each send to cover the send. */
const CLAIM_LEASE_MS = 60_000;
const LEASE_MARGIN_MS = 30_000;

/**
 * Why a delivery failed for good (burnrate_alert_delivery_failed_total's `reason`): the destination's answer will not
 * change (`permanent`), retries outlasted the schedule's give-up age (`gave_up`), its secrets cannot be opened
 * (`unreadable`), its address is internal and not admitted (`refused`), or email without SMTP_URL (`unconfigured`).
 */
const FAILURE_REASONS = ['permanent', 'gave_up', 'unreadable', 'refused', 'unconfigured'] as const;
type FailureReason = (typeof FAILURE_REASONS)[number];

/** What an attempt came to (burnrate_alert_deliveries_total's `outcome`, and the delivery record's). */
const OUTCOMES: Record<FinalState | 'retrying', true> = {
  delivered: true,
  accepted: true,
  retrying: true,
  failed: true,
  suppressed: true,
};

/**
 * Delivers the outbox: claims due rows (FOR UPDATE SKIP LOCKED, with a lease so a crashed worker's rows come back),
 * works through them in one lane per destination (so a slow endpoint holds up only its own rows), sends each as its
 * vendor documents to the address it checked (a tenant's URL never reaches an internal address unless
 * ALERT_DESTINATION_ALLOWLIST admits it), and records every attempt on burnrate.alert-deliveries.v1. Each answer is
 * read as its vendor documents it (interpretResponse, interpretSmtp): delivered, accepted (queued by Teams Workflows),
 * retried, or failed at once (a redirect, a refused address, a permanent error; a webhook's 410 also disables the
 * destination). Retries follow the destination type's schedule (RETRY_<TYPE>: backoff with full jitter, Retry-After
 * honoured) until the delivery is older than the schedule allows; the last failure is kept. Every write after the claim
 * holds only while this replica still holds the lease.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly outbox: AlertOutboxRepository;
  private readonly lanes: DeliveryLanes<OutboxRow>;
  private readonly client: DestinationClient;
  private readonly routes: RouteRepository;
  private readonly schedules: RetrySchedules;
  private readonly mailer: Transporter | null;
  private readonly log: JsonLogger;
  private readonly deliveries;
  private readonly attempts;
  private readonly failed;
  private readonly latency;
  private readonly queueDepth;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigOf<typeof alertRouterSpec>,
    @Inject(PG_POOL) pool: Pool,
    private readonly kafka: KafkaService,
    logger: JsonLogger,
    metrics: Metrics,
  ) {
    this.log = logger.child({ component: 'delivery' });
    this.outbox = new AlertOutboxRepository(pool);
    this.client = new DestinationClient(
      new DestinationGuard(DestinationAllowList.parse(config.ALERT_DESTINATION_ALLOWLIST)),
      { timeoutMs: config.HTTP_TIMEOUT_MS },
    );
    this.lanes = new DeliveryLanes<OutboxRow>((row, pace) => this.deliver(row, pace), {
      concurrency: config.DELIVERY_CONCURRENCY,
      onError: (err) => this.log.error('delivery failed unexpectedly', { err: (err as Error).message }),
      onLaneDone: () => this.wake(),
    });
    this.mailer = config.SMTP_URL
      ? nodemailer.createTransport(smtpTransportOptions(config.SMTP_URL, config.SMTP_CA_FILE))
      : null;
    this.routes = new RouteRepository(pool, config.ROUTES_FILE);
    this.schedules = {
      pagerduty: config.RETRY_PAGERDUTY,
      slack: config.RETRY_SLACK,
      teams: config.RETRY_TEAMS,
      email: config.RETRY_EMAIL,
      webhook: config.RETRY_WEBHOOK,
    };
    this.deliveries = metrics.counter('burnrate_alert_deliveries_total', 'Delivery outcomes', [
      'destination',
      'outcome',
    ] as const);
    this.attempts = metrics.counter('burnrate_alert_delivery_attempts_total', 'Delivery attempts', [
      'destination',
    ] as const);
    this.failed = metrics.counter(
      'burnrate_alert_delivery_failed_total',
      'Deliveries given up for good, by reason: permanent, gave_up, unreadable, refused, unconfigured',
      ['destination', 'reason'] as const,
    );
    // every series from 0, so increase() sees a replica's first failure of each kind (BurnrateAlertDeliveryFailed)
    const destinations = Object.keys(SPACING_MS);
    metrics.startAtZero(this.deliveries, { destination: destinations, outcome: Object.keys(OUTCOMES) });
    metrics.startAtZero(this.attempts, { destination: destinations });
    metrics.startAtZero(this.failed, { destination: destinations, reason: FAILURE_REASONS });
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

  /** New rows are in the outbox, or a lane has emptied: poll now instead of at the next interval. */
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
    await this.outbox.release(await this.lanes.stop());
  }

  /** Claims due rows and hands them to their destinations' lanes; does not wait for the sends. */
  private async poll(): Promise<void> {
    const busy = this.lanes.busyKeys();
    const rows =
      busy.length < LANES_PER_SLOT * this.config.DELIVERY_CONCURRENCY
        ? await this.outbox.claim(CLAIM_LIMIT, PER_DESTINATION, busy, CLAIM_LEASE_MS)
        : [];
    this.queueDepth.set(await this.outbox.pendingCount());
    const byDestination = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const lane = byDestination.get(row.destination_key) ?? [];
      lane.push(row);
      byDestination.set(row.destination_key, lane);
    }
    for (const [key, lane] of byDestination) this.lanes.add(key, SPACING_MS[lane[0].destination.type], lane);
  }

  private async deliver(row: OutboxRow, pace: () => Promise<void>): Promise<void> {
    const d = row.destination;
    const a = row.anomaly;
    if (row.unreadable)
      return this.finish(row, 'failed', null, `destination unreadable: ${row.unreadable}`, 'unreadable');
    // An update or resolve goes where the incident's trigger arrived; one that never did (failed for good) has nothing
    // to update there (PagerDuty drops a resolve for an alert it never opened).
    if (row.action !== 'trigger' && !(await this.outbox.triggerReached(row)))
      return this.finish(row, 'suppressed', null, "the incident's trigger did not reach this destination");
    // A destination disabled since the row was queued (its receiver answered 410) is sent nothing more: the routing
    // cache of every replica may still hold it for a few seconds, this check does not.
    const disabled = await this.routes.disabledReason(row.destination_key);
    if (disabled !== null) return this.finish(row, 'suppressed', null, `destination disabled: ${disabled}`);
    const ctx = await this.context(row);
    await pace();
    if (!(await this.outbox.renew(row, this.config.HTTP_TIMEOUT_MS + LEASE_MARGIN_MS)))
      return this.leaseLost(row, 'not sent');
    this.attempts.inc({ destination: d.type });
    let status: number | null = null;
    let outcome: DeliveryOutcome;
    if (d.type === 'email') {
      if (!this.mailer) return this.finish(row, 'failed', null, 'SMTP_URL is not configured', 'unconfigured');
      const mail = emailContent(a, ctx);
      outcome = interpretSmtp(
        await this.mailer
          .sendMail({
            from: this.config.SMTP_FROM,
            to: d.to,
            subject: mail.subject,
            text: mail.text,
            html: mail.html,
            messageId: mail.messageId,
            headers: mail.headers,
          })
          .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
      );
      if (outcome.kind === 'delivered') status = 200; // the SMTP server took the message
    } else {
      try {
        const res = await this.client.post(buildRequest(d, a, ctx), { guarded: d.type !== 'pagerduty' });
        status = res.status;
        outcome = interpretResponse(d.type, res);
      } catch (err) {
        if (err instanceof DestinationRefusedError)
          return this.finish(row, 'failed', null, err.message, 'refused');
        outcome = interpretResponse(d.type, { status: null, error: (err as Error).message });
      }
    }
    switch (outcome.kind) {
      case 'delivered':
        return this.finish(row, 'delivered', status, outcome.error ?? null);
      case 'accepted':
        return this.finish(row, 'accepted', status, null);
      case 'failed':
        if (outcome.disable) await this.disable(row, outcome.error);
        return this.finish(row, 'failed', status, outcome.error, 'permanent');
    }
    const next = nextAttempt(
      row.attempts,
      Date.now() - new Date(row.created_at).getTime(),
      outcome.retryAfter,
      this.schedules[d.type],
    );
    if (next.kind === 'give_up')
      return this.finish(row, 'failed', status, `${outcome.error}; ${next.error}`, 'gave_up');
    if (!(await this.outbox.reschedule(row, next.delayMs, status, outcome.error)))
      return this.leaseLost(row, 'retrying', outcome.error);
    await this.record(row, 'retrying', status, outcome.error);
  }

  /** The receiver asked not to be sent to again (410 Gone): routing leaves the destination out until re-enabled. */
  private async disable(row: OutboxRow, reason: string): Promise<void> {
    try {
      await this.routes.disableDestination(row.destination_key, reason);
      this.log.warn('destination disabled: its receiver answered 410 Gone', {
        delivery_id: row.delivery_id,
        destination: maskDestination(row.destination),
      });
    } catch (err) {
      this.log.error('could not disable a destination that answered 410 Gone', {
        delivery_id: row.delivery_id,
        destination: maskDestination(row.destination),
        err: (err as Error).message,
      });
    }
  }

  /** Another replica claimed the row after this one's lease ran out: its outcome is that replica's to record. */
  private leaseLost(row: OutboxRow, outcome: string, error?: string | null): void {
    this.log.warn('lease on a delivery lost to another replica; outcome not recorded', {
      delivery_id: row.delivery_id,
      attempt: row.attempts,
      outcome,
      error: error ?? undefined,
    });
  }

  private async context(row: OutboxRow): Promise<MessageContext> {
    const base = this.config.PUBLIC_URL?.replace(/\/+$/, '');
    return {
      link: base ? `${base}/incidents/${encodeURIComponent(row.incident_key)}` : null,
      deliveryId: opaqueId('msg', row.delivery_id),
      incidentKey: row.incident_key,
      action: row.action,
      signals: row.action === 'resolve' ? await this.outbox.incidentRecords(row.incident_key) : [],
      now: Date.now(),
      pagerDutyUrl: this.config.PAGERDUTY_EVENTS_URL,
    };
  }

  private async finish(
    row: OutboxRow,
    state: FinalState,
    status: number | null,
    error: string | null,
    reason: FailureReason = 'permanent',
  ): Promise<void> {
    if (!(await this.outbox.finish(row, state, status, error))) return this.leaseLost(row, state, error);
    if (state === 'failed') this.failed.inc({ destination: row.destination.type, reason });
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
    outcome: keyof typeof OUTCOMES,
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

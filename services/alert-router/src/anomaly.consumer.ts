import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Pool } from 'pg';
import {
  AlertOutboxRepository,
  RouteRepository,
  actionOf,
  destinationKey,
  incidentKeyOf,
  openDestination,
  routesFor,
  sealDestination,
  takesUpdate,
  type Anomaly,
  type DeliveryAction,
  type Destination,
} from '@libs/alerting';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics } from '@libs/contracts';
import { PG_POOL } from '@libs/db';
import { KafkaService } from '@libs/kafka';
import { SecretBox } from '@libs/secrets';
import { JsonLogger } from '@libs/observability';
import { alertRouterSpec } from './alert-router.config';
import { DeliveryWorker } from './delivery.worker';

/** Why an update is not sent to a chat or email destination: it is listed in the incident's resolve. */
const FOLDED =
  'folded into its incident: chat and email destinations are told of escalations, and the resolve lists every signal';

/**
 * burnrate.anomalies.v1 -> the delivery outbox, per incident. An incident's opening record pages the routes it matches
 * (a trigger per destination); its later records go where it was paged (an update, or the resolve), the batch's own
 * triggers included, so a firing and its resolve in one batch meet; an escalation also pages a route it newly matches.
 * One row per (record, destination), inserted idempotently before the batch's offsets are committed: a redelivered
 * anomaly adds nothing, and nothing is lost between Kafka and delivery.
 */
@Injectable()
export class AnomalyConsumer implements OnApplicationBootstrap {
  private readonly routes: RouteRepository;
  private readonly outbox: AlertOutboxRepository;
  private readonly secrets = SecretBox.fromEnv();
  private readonly log: JsonLogger;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigOf<typeof alertRouterSpec>,
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly kafka: KafkaService,
    private readonly worker: DeliveryWorker,
    logger: JsonLogger,
  ) {
    this.routes = new RouteRepository(pool, config.ROUTES_FILE, {
      secrets: this.secrets,
      onUnreadable: (route, team, err) =>
        this.log.error('alert route left out: its secrets cannot be opened with SECRETS_KEY', {
          route,
          team,
          err: err.message,
        }),
    });
    this.outbox = new AlertOutboxRepository(pool, this.secrets);
    this.log = logger.child({ component: 'anomalies' });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.routes.all(); // a bad ROUTES_FILE stops the start-up with its problems named
    const consumer = this.kafka.createConsumer<Anomaly>({
      groupId: this.config.CONSUMER_GROUP,
      topics: [Topics.anomalies],
      handler: async (records) => {
        const routes = await this.routes.all();
        const live = records.map((r) => r.value).filter((a) => !a.late); // late data is recorded, never paged
        // Where each incident of the batch was paged before it: an update or a resolve goes there.
        const sealed = await this.outbox.pagedDestinations([...new Set(live.map(incidentKeyOf))]);
        const paged = new Map<string, Map<string, Destination>>();
        const wentTo = (incident: string): Map<string, Destination> => {
          let m = paged.get(incident);
          if (!m) {
            m = new Map();
            for (const [key, d] of sealed.get(incident) ?? []) {
              try {
                m.set(key, openDestination(this.secrets, d as Destination));
              } catch (err) {
                this.log.error(
                  'incident update not sent: its destination cannot be opened with SECRETS_KEY',
                  {
                    incident: incident,
                    err: (err as Error).message,
                  },
                );
              }
            }
            paged.set(incident, m);
          }
          return m;
        };
        const rows: unknown[] = [];
        const queue = (a: Anomaly, d: Destination, action: DeliveryAction, folded: boolean): void => {
          const key = destinationKey(d);
          rows.push({
            delivery_id: `${a.anomaly_id}:${key}`,
            anomaly_id: a.anomaly_id,
            dedupe_key: a.dedupe_key,
            incident_key: incidentKeyOf(a),
            action,
            destination_key: key,
            destination: sealDestination(this.secrets, d),
            anomaly: a,
            state: folded ? 'suppressed' : 'pending',
            last_error: folded ? FOLDED : null,
          });
        };
        for (const a of live) {
          const incident = incidentKeyOf(a);
          const action = actionOf(a);
          const went = wentTo(incident);
          // the batch's own triggers count: a firing and its resolve in one batch meet (the resolve waits for it)
          if (action === 'trigger') {
            for (const d of routesFor(a, routes).flatMap((r) => r.destinations)) {
              queue(a, d, 'trigger', false);
              went.set(destinationKey(d), d);
            }
            continue;
          }
          for (const d of went.values()) queue(a, d, action, action === 'update' && !takesUpdate(d, a));
          // an escalation may now match a route its first signal did not (severity: [critical]): that route is paged
          if (action === 'update' && a.state !== 'resolved')
            for (const d of routesFor(a, routes).flatMap((r) => r.destinations)) {
              if (went.has(destinationKey(d))) continue;
              queue(a, d, 'trigger', false);
              went.set(destinationKey(d), d);
            }
        }
        if (rows.length === 0) return;
        await this.pool.query(
          `insert into alert_outbox (delivery_id, anomaly_id, dedupe_key, incident_key, action, destination_key, destination,
             anomaly, state, last_error, finished_at)
           select delivery_id, anomaly_id, dedupe_key, incident_key, action, destination_key, destination, anomaly, state,
             last_error, case when state = 'pending' then null else now() end
           from jsonb_to_recordset($1::jsonb) as x(delivery_id text, anomaly_id text, dedupe_key text, incident_key text,
             action text, destination_key text, destination jsonb, anomaly jsonb, state text, last_error text)
           on conflict (delivery_id) do nothing`,
          [JSON.stringify(rows)],
        );
        this.log.debug('queued deliveries', { count: rows.length });
        this.worker.wake();
      },
    });
    await consumer.start();
  }
}

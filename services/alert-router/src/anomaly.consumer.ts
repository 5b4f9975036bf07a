import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Pool } from 'pg';
import {
  RouteRepository,
  destinationKey,
  openDestination,
  routesFor,
  sealDestination,
  type Anomaly,
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

/**
 * burnrate.anomalies.v1 -> the delivery outbox. One row per (anomaly, destination), inserted idempotently before the
 * batch's offsets are committed: a redelivered anomaly adds nothing, and nothing is lost between Kafka and delivery.
 */
@Injectable()
export class AnomalyConsumer implements OnApplicationBootstrap {
  private readonly routes: RouteRepository;
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
    this.log = logger.child({ component: 'anomalies' });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.routes.all(); // a bad ROUTES_FILE stops the start-up with its problems named
    const consumer = this.kafka.createConsumer<Anomaly>({
      groupId: this.config.CONSUMER_GROUP,
      topics: [Topics.anomalies],
      handler: async (records) => {
        const routes = await this.routes.all();
        const rows: unknown[] = [];
        for (const { value: a } of records) {
          if (a.late) continue; // late data is recorded, never paged
          // A resolution goes where its incident was paged, whatever its own severity.
          const destinations =
            a.state === 'resolved'
              ? (
                  await this.pool.query<{ destination: Destination }>(
                    "select distinct on (destination_key) destination from alert_outbox where dedupe_key = $1 and state in ('pending', 'delivered')",
                    [a.dedupe_key],
                  )
                ).rows.flatMap((r) => {
                  try {
                    return [openDestination(this.secrets, r.destination)];
                  } catch (err) {
                    this.log.error('resolve not sent: its destination cannot be opened with SECRETS_KEY', {
                      dedupe_key: a.dedupe_key,
                      err: (err as Error).message,
                    });
                    return [];
                  }
                })
              : routesFor(a, routes).flatMap((r) => r.destinations);
          for (const d of destinations) {
            const key = destinationKey(d);
            rows.push({
              delivery_id: `${a.anomaly_id}:${key}`,
              anomaly_id: a.anomaly_id,
              dedupe_key: a.dedupe_key,
              destination_key: key,
              destination: sealDestination(this.secrets, d),
              anomaly: a,
            });
          }
        }
        if (rows.length === 0) return;
        await this.pool.query(
          `insert into alert_outbox (delivery_id, anomaly_id, dedupe_key, destination_key, destination, anomaly)
           select delivery_id, anomaly_id, dedupe_key, destination_key, destination, anomaly
           from jsonb_to_recordset($1::jsonb) as x(delivery_id text, anomaly_id text, dedupe_key text, destination_key text, destination jsonb, anomaly jsonb)
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

import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Pool } from 'pg';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics, type AgentStats, type AnomalyRecord, type PricedRun } from '@libs/contracts';
import { PG_POOL } from '@libs/db';
import { KafkaService } from '@libs/kafka';
import { Metrics } from '@libs/observability';
import { recorderSpec } from './recorder.config';
import { EventsWriter, type AlertDeliveryRecord } from './events.writer';
import { RunsWriter } from './runs.writer';

/**
 * runs.priced, agent-stats, anomalies and alert-deliveries -> PostgreSQL. Each batch is written in one idempotent statement before its offsets are committed, so a
 * crash replays at most the uncommitted batch, and the replay inserts nothing twice.
 */
@Injectable()
export class RecorderService implements OnApplicationBootstrap {
  private readonly writer: RunsWriter;
  private readonly events: EventsWriter;
  private readonly rows;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigOf<typeof recorderSpec>,
    @Inject(PG_POOL) pool: Pool,
    private readonly kafka: KafkaService,
    metrics: Metrics,
  ) {
    this.writer = new RunsWriter(pool);
    this.events = new EventsWriter(pool);
    this.rows = metrics.counter('burnrate_recorder_rows_total', 'Records written, by table and outcome', [
      'table',
      'outcome',
    ] as const);
    metrics.startAtZero(this.rows, {
      table: ['runs', 'anomalies', 'alert_deliveries'],
      outcome: ['inserted', 'duplicate'],
    });
    metrics.startAtZero(this.rows, { table: ['agent_stats'], outcome: ['upserted'] });
  }

  async onApplicationBootstrap(): Promise<void> {
    const consumer = this.kafka.createConsumer<PricedRun>({
      groupId: this.config.CONSUMER_GROUP,
      topics: [Topics.runsPriced],
      partitionsConsumedConcurrently: 3,
      handler: async (records) => {
        const inserted = await this.writer.write(records.map((r) => r.value));
        this.rows.inc({ table: 'runs', outcome: 'inserted' }, inserted);
        if (records.length > inserted)
          this.rows.inc({ table: 'runs', outcome: 'duplicate' }, records.length - inserted);
      },
    });
    await consumer.start();
    const events = this.kafka.createConsumer<AnomalyRecord | AlertDeliveryRecord>({
      groupId: `${this.config.CONSUMER_GROUP}-events`,
      topics: [Topics.anomalies, Topics.alertDeliveries],
      handler: async (records, { topic }) => {
        const values = records.map((r) => r.value);
        const inserted =
          topic === Topics.anomalies.name
            ? await this.events.anomalies(values as AnomalyRecord[])
            : await this.events.deliveries(values as AlertDeliveryRecord[]);
        const table = topic === Topics.anomalies.name ? 'anomalies' : 'alert_deliveries';
        this.rows.inc({ table, outcome: 'inserted' }, inserted);
        if (records.length > inserted)
          this.rows.inc({ table, outcome: 'duplicate' }, records.length - inserted);
      },
    });
    await events.start();
    const stats = this.kafka.createConsumer<AgentStats>({
      groupId: `${this.config.CONSUMER_GROUP}-stats`,
      topics: [Topics.agentStats],
      handler: async (records) => {
        const written = await this.events.agentStats(records.map((r) => r.value));
        this.rows.inc({ table: 'agent_stats', outcome: 'upserted' }, written);
      },
    });
    await stats.start();
  }
}

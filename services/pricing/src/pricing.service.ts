import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { CONFIG, type ConfigOf } from '@libs/config';
import { RUN_EVENT_FIELDS, Topics, type RunEvent } from '@libs/contracts';
import { PG_POOL } from '@libs/db';
import { KafkaService, type BatchConsumer } from '@libs/kafka';
import { JsonLogger, Metrics } from '@libs/observability';
import {
  RateCardRepository,
  RateCardResolver,
  installStoredDataset,
  seedRateCardIfEmpty,
} from '@libs/pricing-core';
import { priceBatch } from './price-batch';
import { pricingSpec } from './pricing.config';

/**
 * runs.raw -> runs.priced | runs.rejected, consume-transform-produce in one Kafka transaction per batch: a crash
 * neither loses nor doubles a priced run. The rate card is reloaded when it changes, without a restart, and with it the
 * price dataset stored beside it (seed-rate-card --latest), so models are matched by the data their rows came from.
 */
@Injectable()
export class PricingService implements OnApplicationBootstrap, OnApplicationShutdown {
  private card = new RateCardResolver([]);
  private fingerprint = '';
  private timer: NodeJS.Timeout | undefined;
  private consumer: BatchConsumer<RunEvent> | undefined;
  private readonly repo: RateCardRepository;
  private readonly log: JsonLogger;
  private readonly priced;
  private readonly rejected;
  private readonly spend;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigOf<typeof pricingSpec>,
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly kafka: KafkaService,
    logger: JsonLogger,
    metrics: Metrics,
  ) {
    this.repo = new RateCardRepository(pool);
    this.log = logger.child({ component: 'pricing' });
    this.priced = metrics.counter('burnrate_runs_priced_total', 'Runs priced, by price status', [
      'price_status',
    ] as const);
    this.rejected = metrics.counter(
      'burnrate_runs_rejected_total',
      'Runs rejected by pricing, by first failing field',
      ['field'] as const,
    );
    metrics.startAtZero(this.priced, { price_status: ['priced', 'unpriced'] });
    metrics.startAtZero(this.rejected, { field: RUN_EVENT_FIELDS });
    this.spend = metrics.counter('burnrate_spend_nanos_total', 'Priced spend in nano-units of the currency', [
      'team',
      'currency',
    ] as const);
  }

  async onApplicationBootstrap(): Promise<void> {
    const seeded = await seedRateCardIfEmpty(this.pool);
    if (seeded > 0) this.log.info('rate card seeded from @pydantic/genai-prices', { rows: seeded });
    await this.reloadIfChanged();
    this.timer = setInterval(
      () =>
        void this.reloadIfChanged().catch((err: unknown) =>
          this.log.error('rate card reload failed', { err }),
        ),
      this.config.RATE_CARD_POLL_MS,
    );
    this.timer.unref();
    this.consumer = this.kafka.createConsumer<RunEvent>({
      groupId: this.config.CONSUMER_GROUP,
      topics: [Topics.runsRaw],
      transactional: true,
      transactionalId: `${this.config.CONSUMER_GROUP}-${this.config.INSTANCE_ID}`,
      handler: async (records) => {
        const serde = this.kafka.serde;
        // No database writes here: they would sit outside the Kafka transaction and repeat when a batch is retried.
        // The recorder counts unpriced models from the runs it actually inserts.
        const batch = priceBatch(records, this.card);
        // Counted per batch: a labelled counter's increment costs more than pricing a run.
        const byStatus = new Map<string, number>();
        const spend = new Map<string, { team: string; currency: string; nanos: number }>();
        for (const { value: p } of batch.priced) {
          byStatus.set(p.price_status, (byStatus.get(p.price_status) ?? 0) + 1);
          if (p.total_cost_nanos <= 0) continue;
          const k = `${p.team}\u0000${p.currency}`;
          const s = spend.get(k);
          if (s) s.nanos += p.total_cost_nanos;
          else spend.set(k, { team: p.team, currency: p.currency, nanos: p.total_cost_nanos });
        }
        for (const [price_status, n] of byStatus) this.priced.inc({ price_status }, n);
        for (const { team, currency, nanos } of spend.values()) this.spend.inc({ team, currency }, nanos);
        // The top-level field: a tag's error names the tag (tags.<key>), and tenants choose the keys.
        for (const r of batch.rejected)
          this.rejected.inc({ field: r.value.errors[0]?.field.split('.')[0] ?? 'unknown' });
        return {
          outputs: [
            ...batch.priced.map((p) => ({
              topic: Topics.runsPriced.name,
              key: p.key,
              value: serde.encode(Topics.runsPriced, p.value),
            })),
            ...batch.rejected.map((r) => ({
              topic: Topics.runsRejected.name,
              key: r.key,
              value: serde.encode(Topics.runsRejected, r.value),
            })),
          ],
        };
      },
    });
    await this.consumer.start();
  }

  private async reloadIfChanged(): Promise<void> {
    const fingerprint = await this.repo.fingerprint();
    if (fingerprint === this.fingerprint) return;
    const rows = await this.repo.load();
    // The stored dataset (when it changed) becomes the matcher's data just before the new rows are used, so models are
    // matched by the data the rows came from. Stored data the library refuses is logged and the data in use kept.
    let dataset: string | null | undefined;
    try {
      dataset = await installStoredDataset(this.pool);
    } catch (err) {
      this.log.error('stored price dataset not installed; matching with the dataset in use', { err });
    }
    this.card = new RateCardResolver(rows);
    this.fingerprint = fingerprint;
    this.log.info('rate card loaded', {
      rows: rows.length,
      overrides: rows.filter((r) => r.source === 'override').length,
      dataset: dataset === undefined ? 'unchanged' : (dataset ?? 'bundled'),
    });
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

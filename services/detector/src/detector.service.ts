import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics, changelogTopic, type PricedRun } from '@libs/contracts';
import { PG_POOL } from '@libs/db';
import { KafkaService, type BatchConsumer } from '@libs/kafka';
import { JsonLogger, Metrics } from '@libs/observability';
import { Detector, type DetectorOptions } from './core/detector';
import { detectBatch } from './detect-batch';
import { restoreFromChangelog } from './changelog-restore';
import { detectorSpec } from './detector.config';
import { PgTeamSettingsRepository, TeamSettingsCache } from '@libs/team-settings';

export const LEDGER_CHANGELOG = changelogTopic('detector', 'ledgers');

/**
 * runs.priced -> anomalies. Each batch's anomalies and the ledgers it changed (to a compacted changelog topic) are
 * committed with the consumed offsets in one Kafka transaction, so state and outputs never disagree after a crash:
 * a condition pages once. The ledgers are restored from the changelog before the first batch after every
 * (re)assignment. Team settings are polled from PostgreSQL and apply without a restart.
 */
@Injectable()
export class DetectorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly settings: TeamSettingsCache;
  private detector: Detector;
  private consumer: BatchConsumer<PricedRun> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private restoring: Promise<void> | null = null;
  private readonly log: JsonLogger;
  private readonly emitted;
  private readonly lagMs;

  private readonly dedupe: DetectorOptions;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigOf<typeof detectorSpec>,
    @Inject(PG_POOL) pool: Pool,
    private readonly kafka: KafkaService,
    logger: JsonLogger,
    metrics: Metrics,
  ) {
    this.settings = new TeamSettingsCache(new PgTeamSettingsRepository(pool));
    this.dedupe = { dedupeWindowMs: config.DEDUPE_WINDOW_MS, dedupeMaxIds: config.DEDUPE_MAX_IDS };
    this.detector = new Detector(this.settings.lookup, this.dedupe);
    this.log = logger.child({ component: 'detector' });
    this.emitted = metrics.counter('burnrate_anomalies_total', 'Anomaly records emitted', [
      'rule',
      'severity',
      'state',
    ] as const);
    this.lagMs = metrics.histogram(
      'burnrate_detector_event_lag_seconds',
      'From a run being priced to its batch being evaluated',
      [] as const,
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.reloadSettings();
    this.timer = setInterval(
      () =>
        void this.reloadSettings().catch((err: unknown) => this.log.error('settings reload failed', { err })),
      this.config.SETTINGS_POLL_MS,
    );
    this.timer.unref();
    this.scheduleRestore();
    let joins = 0;
    this.consumer = this.kafka.createConsumer<PricedRun>({
      groupId: this.config.CONSUMER_GROUP,
      topics: [Topics.runsPriced],
      transactional: true,
      transactionalId: `${this.config.CONSUMER_GROUP}-${this.config.INSTANCE_ID}`,
      onAssignment: () => {
        if (joins++ > 0) this.scheduleRestore();
      },
      handler: async (records) => {
        while (this.restoring) await this.restoring;
        const now = Date.now();
        for (const r of records) this.lagMs.observe(Math.max(0, now - r.value.priced_at) / 1000);
        const batch = detectBatch(
          this.detector,
          records.map((r) => r.value),
        );
        const serde = this.kafka.serde;
        for (const a of batch.anomalies)
          this.emitted.inc({ rule: a.value.rule, severity: a.value.severity, state: a.value.state });
        return {
          outputs: [
            ...batch.anomalies.map((a) => ({
              topic: Topics.anomalies.name,
              key: a.key,
              value: serde.encode(Topics.anomalies, a.value),
            })),
            ...batch.ledgers.map((l) => ({
              topic: LEDGER_CHANGELOG.name,
              key: l.key,
              value: l.value === null ? null : Buffer.from(l.value),
            })),
          ],
        };
      },
    });
    await this.consumer.start();
  }

  private scheduleRestore(): void {
    const p: Promise<void> = this.restore().finally(() => {
      if (this.restoring === p) this.restoring = null;
    });
    this.restoring = p;
  }

  /** A fresh detector rebuilt from the changelog: the ledgers of partitions this instance now owns may have moved on. */
  private async restore(): Promise<void> {
    const detector = new Detector(this.settings.lookup, this.dedupe);
    let restored = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        restored = await restoreFromChangelog(this.kafka.kafka, LEDGER_CHANGELOG.name, detector);
        break;
      } catch (err) {
        // Never evaluate on empty ledgers: a condition already paged would page again.
        this.log.error('changelog restore failed; retrying', { err, attempt });
        await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 5000)));
        detector.agents.clear();
        detector.teams.clear();
      }
    }
    this.detector = detector;
    this.log.info('ledgers restored from changelog', { records: restored, agents: detector.agents.size });
  }

  private async reloadSettings(): Promise<void> {
    if (await this.settings.refresh()) this.log.info('team settings loaded');
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

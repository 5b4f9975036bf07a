import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics, detectorTopics, type PricedRun } from '@libs/contracts';
import { PG_POOL } from '@libs/db';
import { KafkaService, PartitionStore, type BatchConsumer, type OutboundRecord } from '@libs/kafka';
import { JsonLogger, Metrics } from '@libs/observability';
import { PgTeamSettingsRepository, TeamSettingsCache } from '@libs/team-settings';
import type { Anomaly } from './core/anomaly';
import { Detector, type DetectorOptions, type LedgerKey } from './core/detector';
import { TeamDetector, type TeamLedger, type TeamSpend } from './core/team-detector';
import { detectBatch, detectTeamBatch } from './detect-batch';
import { detectorSpec } from './detector.config';

const DETECTOR_TOPICS = detectorTopics();
/** The agents' ledgers, partition p of it the state of runs.priced partition p. */
export const AGENT_CHANGELOG = DETECTOR_TOPICS.agents;
/** The team ledgers (team and customer budgets), partition p of it the state of team-spend partition p. */
export const TEAM_CHANGELOG = DETECTOR_TOPICS.teams;
/** What each team spent per slice of runs.priced, keyed by team: the input of team and customer budgets. Internal. */
export const TEAM_SPEND = DETECTOR_TOPICS.teamSpend;

/**
 * runs.priced -> anomalies, in two stages that each own their state. The agent stage keeps the ledgers of the agents
 * of its assigned partitions of runs.priced (one agent's runs are all in one partition); each slice's anomalies, the
 * ledgers it changed (to changelog partition = input partition) and what each team spent (to the team-spend topic,
 * keyed by team) are committed with the consumed offsets in one Kafka transaction. The team stage reads team-spend
 * and owns team and customer budgets the same way. So a condition pages once; replicas divide the agents and teams,
 * and a moved partition is restored from its own changelog partition only. Team settings are polled from PostgreSQL.
 */
@Injectable()
export class DetectorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly settings: TeamSettingsCache;
  private readonly agentStore: PartitionStore<Detector>;
  private readonly teamStore: PartitionStore<TeamDetector>;
  private readonly consumers: BatchConsumer<unknown>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly log: JsonLogger;
  private readonly emitted;
  private readonly lagMs;
  private readonly agents;
  private readonly teams;
  private readonly options: DetectorOptions;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigOf<typeof detectorSpec>,
    @Inject(PG_POOL) pool: Pool,
    private readonly kafka: KafkaService,
    logger: JsonLogger,
    metrics: Metrics,
  ) {
    this.settings = new TeamSettingsCache(new PgTeamSettingsRepository(pool));
    this.options = { dedupeWindowMs: config.DEDUPE_WINDOW_MS, dedupeMaxIds: config.DEDUPE_MAX_IDS };
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
    this.agents = metrics.gauge('burnrate_detector_agents', 'Agents whose ledgers this replica holds', [
      'partition',
    ] as const);
    this.teams = metrics.gauge('burnrate_detector_teams', 'Teams whose budgets this replica holds', [
      'partition',
    ] as const);
    const parse = (value: Buffer | null) => (value === null ? null : JSON.parse(value.toString()));
    const partitionOf = new WeakMap<object, number>();
    this.agentStore = new PartitionStore<Detector>({
      name: 'detector',
      kafka: kafka.kafka,
      input: Topics.runsPriced,
      changelog: AGENT_CHANGELOG,
      create: (p) => {
        const d = new Detector(this.settings.lookup, this.options);
        partitionOf.set(d, p);
        return d;
      },
      restore: (d, key, value) => d.restore(key as LedgerKey, parse(value)),
      restored: (d) => d.restored(),
      release: (d) => this.agents.remove({ partition: String(partitionOf.get(d)) }),
      describe: (ds) => ({ agents: ds.reduce((n, d) => n + d.agents.size, 0) }),
      log: this.log,
      metrics,
    });
    this.teamStore = new PartitionStore<TeamDetector>({
      name: 'detector-teams',
      kafka: kafka.kafka,
      input: TEAM_SPEND,
      changelog: TEAM_CHANGELOG,
      create: (p) => {
        const t = new TeamDetector(this.settings.lookup);
        partitionOf.set(t, p);
        return t;
      },
      restore: (t, key, value) => t.restore(key, parse(value) as TeamLedger | null),
      release: (t) => this.teams.remove({ partition: String(partitionOf.get(t)) }),
      describe: (ts) => ({ teams: ts.reduce((n, t) => n + t.teams.size, 0) }),
      log: this.log,
      metrics,
    });
  }

  private anomalyRecords(anomalies: { key: string; value: Anomaly }[]): OutboundRecord[] {
    const serde = this.kafka.serde;
    return anomalies.map((a) => {
      this.emitted.inc({ rule: a.value.rule, severity: a.value.severity, state: a.value.state });
      return { topic: Topics.anomalies.name, key: a.key, value: serde.encode(Topics.anomalies, a.value) };
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.reloadSettings();
    this.timer = setInterval(
      () =>
        void this.reloadSettings().catch((err: unknown) => this.log.error('settings reload failed', { err })),
      this.config.SETTINGS_POLL_MS,
    );
    this.timer.unref();
    await this.agentStore.matchPartitions();
    await this.teamStore.matchPartitions();
    const group = this.config.CONSUMER_GROUP;
    const instance = this.config.INSTANCE_ID;

    const agentsConsumer = this.kafka.createConsumer<PricedRun>({
      groupId: group,
      topics: [Topics.runsPriced],
      transactional: true,
      transactionalId: `${group}-${instance}`,
      onAssignment: (assignment) => {
        this.agentStore.assign(assignment[Topics.runsPriced.name] ?? []);
        this.agents.reset();
      },
      onUncommitted: (_topic, partition) => this.agentStore.drop(partition),
      handler: async (records, ctx) => {
        const detector = await this.agentStore.get(ctx.partition, ctx.heartbeat);
        const now = Date.now();
        for (const r of records) this.lagMs.observe(Math.max(0, now - r.value.priced_at) / 1000);
        const batch = detectBatch(
          detector,
          records.map((r) => r.value),
        );
        this.agents.set({ partition: String(ctx.partition) }, detector.agents.size);
        return {
          outputs: [
            ...this.anomalyRecords(batch.anomalies),
            ...batch.ledgers.map((l) => this.agentStore.record(ctx.partition, l.key, l.value)),
            ...batch.teamSpend.map((s) => ({
              topic: TEAM_SPEND.name,
              key: s.team,
              value: Buffer.from(JSON.stringify(s)),
            })),
          ],
        };
      },
    });

    const teamsConsumer = this.kafka.createConsumer<Buffer>({
      groupId: `${group}-teams`,
      topics: [TEAM_SPEND],
      transactional: true,
      transactionalId: `${group}-teams-${instance}`,
      onAssignment: (assignment) => {
        this.teamStore.assign(assignment[TEAM_SPEND.name] ?? []);
        this.teams.reset();
      },
      onUncommitted: (_topic, partition) => this.teamStore.drop(partition),
      handler: async (records, ctx) => {
        const teams = await this.teamStore.get(ctx.partition, ctx.heartbeat);
        const batch = detectTeamBatch(
          teams,
          records.map((r) => JSON.parse(r.value.toString()) as TeamSpend),
        );
        this.teams.set({ partition: String(ctx.partition) }, teams.teams.size);
        return {
          outputs: [
            ...this.anomalyRecords(batch.anomalies),
            ...batch.ledgers.map((l) => this.teamStore.record(ctx.partition, l.key, l.value)),
          ],
        };
      },
    });
    this.consumers.push(agentsConsumer as BatchConsumer<unknown>, teamsConsumer as BatchConsumer<unknown>);
    await Promise.all([agentsConsumer.start(), teamsConsumer.start()]);
  }

  private async reloadSettings(): Promise<void> {
    if (await this.settings.refresh()) this.log.info('team settings loaded');
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.agentStore.releaseAll();
    this.teamStore.releaseAll();
  }
}

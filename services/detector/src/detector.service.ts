import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics, detectorTopics, type AgentStats, type TeamSpend } from '@libs/contracts';
import { PG_POOL } from '@libs/db';
import { KafkaService, PartitionStore, type BatchConsumer, type OutboundRecord } from '@libs/kafka';
import { JsonLogger, Metrics } from '@libs/observability';
import { PgTeamSettingsRepository, TeamSettingsCache } from '@libs/team-settings';
import { SEVERITIES, type Anomaly, type AnomalyState, type RuleName } from './core/anomaly';
import { Detector, type AgentIncidents } from './core/detector';
import { TeamDetector, type TeamLedger } from './core/team-detector';
import { TEAM_DAILY_DAYS } from './core/team-daily';
import { detectBatch, detectTeamBatch } from './detect-batch';
import { detectorSpec } from './detector.config';

/** burnrate_anomalies_total's rules and states, to start its series at 0 (Records: the compiler asks for new ones). */
const RULES: Record<RuleName, true> = {
  spend_zscore: true,
  cost_per_run_jump: true,
  cost_per_run_drift: true,
  prompt_creep: true,
  cost_per_success_climb: true,
  session_outlier: true,
  run_rate_loop: true,
  child_run_loop: true,
  budget: true,
  unattributed_spend: true,
  unpriced_model: true,
  guard_limit: true,
};
const STATES: Record<AnomalyState, true> = { firing: true, escalated: true, resolved: true };

const DETECTOR_TOPICS = detectorTopics();
const TEAM_DAILY_REFRESH_MS = 10 * 60_000;
/** The agents' open incidents, partition p of it the state of agent-stats partition p. */
export const AGENT_CHANGELOG = DETECTOR_TOPICS.agents;
/** The team ledgers (team and customer budgets), partition p of it the state of team-spend partition p. */
export const TEAM_CHANGELOG = DETECTOR_TOPICS.teams;

/**
 * The rules, over what the aggregator keeps: agent-stats -> anomalies, and team-spend -> team and customer budget
 * anomalies. Each stage holds only the state of its assigned partitions (the agents' open incidents; the teams' day
 * and month spend and incidents) in a PartitionStore; each slice's anomalies, its changelog records (changelog
 * partition = input partition) and its consumed offsets are committed in one Kafka transaction, so a condition pages
 * once, and replicas divide the agents and teams. Team settings are polled from PostgreSQL and apply without a restart.
 */
@Injectable()
export class DetectorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly settings: TeamSettingsCache;
  private readonly agentStore: PartitionStore<Detector>;
  private readonly teamStore: PartitionStore<TeamDetector>;
  private readonly consumers: BatchConsumer<unknown>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private teamDailyTimer: NodeJS.Timeout | undefined;
  /** Each team's mean daily spend over its 14 complete days before today (agent_stats), nano-units. */
  private teamDaily = new Map<string, number>();
  private readonly log: JsonLogger;
  private readonly emitted;
  private readonly lagMs;
  private readonly agents;
  private readonly teams;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigOf<typeof detectorSpec>,
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly kafka: KafkaService,
    logger: JsonLogger,
    metrics: Metrics,
  ) {
    this.settings = new TeamSettingsCache(new PgTeamSettingsRepository(pool));
    this.log = logger.child({ component: 'detector' });
    this.emitted = metrics.counter('burnrate_anomalies_total', 'Anomaly records emitted', [
      'rule',
      'severity',
      'state',
    ] as const);
    metrics.startAtZero(this.emitted, {
      rule: Object.keys(RULES),
      severity: SEVERITIES,
      state: Object.keys(STATES),
    });
    this.lagMs = metrics.histogram(
      'burnrate_detector_event_lag_seconds',
      'From the latest run behind an agent-stats record finishing to the record being evaluated',
      [] as const,
    );
    this.agents = metrics.gauge(
      'burnrate_detector_agents',
      'Agents with an open incident this replica holds',
      ['partition'] as const,
    );
    this.teams = metrics.gauge('burnrate_detector_teams', 'Teams whose budgets this replica holds', [
      'partition',
    ] as const);
    const parse = (value: Buffer | null) => (value === null ? null : JSON.parse(value.toString()));
    this.agentStore = new PartitionStore<Detector>({
      name: 'detector',
      kafka: kafka.kafka,
      input: Topics.agentStats,
      changelog: AGENT_CHANGELOG,
      create: () => new Detector(this.settings.lookup, (team) => this.teamDaily.get(team) ?? null),
      restore: (d, key, value) => d.restore(key, parse(value) as AgentIncidents | null),
      release: (_d, p) => this.agents.remove({ partition: String(p) }),
      describe: (ds) => ({ agents: ds.reduce((n, d) => n + d.agents.size, 0) }),
      log: this.log,
      metrics,
    });
    this.teamStore = new PartitionStore<TeamDetector>({
      name: 'detector-teams',
      kafka: kafka.kafka,
      input: Topics.teamSpend,
      changelog: TEAM_CHANGELOG,
      create: () => new TeamDetector(this.settings.lookup),
      restore: (t, key, value) => t.restore(key, parse(value) as TeamLedger | null),
      release: (_t, p) => this.teams.remove({ partition: String(p) }),
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
    await this.refreshTeamDaily();
    this.teamDailyTimer = setInterval(
      () =>
        void this.refreshTeamDaily().catch((err: unknown) =>
          this.log.error('team daily spend refresh failed', { err }),
        ),
      TEAM_DAILY_REFRESH_MS,
    );
    this.teamDailyTimer.unref();
    await this.agentStore.matchPartitions();
    await this.teamStore.matchPartitions();
    const group = this.config.CONSUMER_GROUP;
    const instance = this.config.INSTANCE_ID;

    const upgraded = await this.firstStartAfter02();
    if (upgraded)
      this.log.info(
        'first start after 0.2 (which read runs.priced): agent-stats is read from its end, so the past week is not judged again',
      );
    const agentsConsumer = this.kafka.createConsumer<AgentStats>({
      groupId: group,
      topics: [Topics.agentStats],
      fromBeginning: !upgraded,
      transactional: true,
      transactionalId: `${group}-${instance}`,
      onAssignment: (assignment) => {
        this.agentStore.assign(assignment[Topics.agentStats.name] ?? []);
        this.agents.reset();
      },
      onUncommitted: (_topic, partition) => this.agentStore.drop(partition),
      handler: async (records, ctx) => {
        const detector = await this.agentStore.get(ctx.partition, ctx.heartbeat);
        await this.freshSettings();
        const now = Date.now();
        for (const r of records)
          if (r.value.signals && !r.value.late)
            this.lagMs.observe(Math.max(0, now - r.value.signals.last_run_at) / 1000);
        const batch = detectBatch(
          detector,
          records.map((r) => r.value),
        );
        this.agents.set({ partition: String(ctx.partition) }, detector.agents.size);
        return {
          outputs: [
            ...this.anomalyRecords(batch.anomalies),
            ...batch.ledgers.map((l) => this.agentStore.record(ctx.partition, l.key, l.value)),
          ],
        };
      },
    });

    const teamsConsumer = this.kafka.createConsumer<TeamSpend>({
      groupId: `${group}-teams`,
      topics: [Topics.teamSpend],
      transactional: true,
      transactionalId: `${group}-teams-${instance}`,
      onAssignment: (assignment) => {
        this.teamStore.assign(assignment[Topics.teamSpend.name] ?? []);
        this.teams.reset();
      },
      onUncommitted: (_topic, partition) => this.teamStore.drop(partition),
      handler: async (records, ctx) => {
        const teams = await this.teamStore.get(ctx.partition, ctx.heartbeat);
        await this.freshSettings();
        const batch = detectTeamBatch(
          teams,
          records.map((r) => r.value),
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

  /**
   * True on the first start of this detector group after an upgrade from 0.2: the old ledger changelog has records and
   * the group has no offset on agent-stats yet. Read from the beginning, the topic's week of records would page
   * again every incident 0.2 already paged and resolved (its open ones were carried over by the migration).
   */
  private async firstStartAfter02(): Promise<boolean> {
    const admin = this.kafka.kafka.admin();
    await admin.connect();
    try {
      const legacy = DETECTOR_TOPICS.legacyLedgers.name;
      if (!(await admin.listTopics()).includes(legacy)) return false;
      const ends = await admin.fetchTopicOffsets(legacy);
      if (!ends.some((o) => BigInt(o.high) > BigInt(o.low))) return false;
      const [committed] = await admin.fetchOffsets({
        groupId: this.config.CONSUMER_GROUP,
        topics: [Topics.agentStats.name],
      });
      return (committed?.partitions ?? []).every((p) => p.offset === '-1');
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * The teams' mean daily spend (what min_excess_team_share is a share of): their agents' spend over the 14 complete
   * UTC days before today, over 14, from the recorder's agent_stats. Figures that move by the day: read every few
   * minutes, not per record.
   */
  private async refreshTeamDaily(): Promise<void> {
    const { rows } = await this.pool.query<{ team: string; daily: number }>(
      `select team, sum(spend_nanos)::float8 / ${TEAM_DAILY_DAYS} as daily
         from agent_stats
        where day_start >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - interval '${TEAM_DAILY_DAYS} days'
          and day_end <= now()
        group by team`,
    );
    this.teamDaily = new Map(rows.map((r) => [r.team, Number(r.daily)]));
  }

  /**
   * The settings as of now, before a batch: a record caused by a run that arrived after a settings change committed is
   * judged by it (one read of the settings version; a reload when it moved). If PostgreSQL cannot say, the settings
   * held are used and the timer catches up.
   */
  private async freshSettings(): Promise<void> {
    try {
      await this.settings.refresh();
    } catch (err) {
      this.log.warn('settings version unreadable; the batch is judged by the settings held', { err });
    }
  }

  private async reloadSettings(): Promise<void> {
    if (await this.settings.refresh()) this.log.info('team settings loaded');
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.teamDailyTimer) clearInterval(this.teamDailyTimer);
    this.agentStore.releaseAll();
    this.teamStore.releaseAll();
  }
}

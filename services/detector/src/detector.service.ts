import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics, detectorTopics, type AgentStats, type TeamSpend } from '@libs/contracts';
import { PG_POOL } from '@libs/db';
import type { Producer } from 'kafkajs';
import {
  CONTROL_HEADER,
  KafkaService,
  PartitionStore,
  type BatchConsumer,
  type OutboundRecord,
} from '@libs/kafka';
import { JsonLogger, Metrics } from '@libs/observability';
import { PgTeamSettingsRepository, TeamSettingsCache } from '@libs/team-settings';
import { SEVERITIES, type Anomaly, type AnomalyState, type RuleName } from './core/anomaly';
import { Detector, type AgentIncidents } from './core/detector';
import { TeamDetector, type TeamLedger } from './core/team-detector';
import { TEAM_DAILY_DAYS } from './core/team-daily';
import type { ControlRecord } from './core/guard';
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
/** A partition woken for the guard's sweep is not woken again for this long (its batch may be waiting its turn). */
const REWAKE_MS = 5_000;
const GUARD_SWEEP = 'guard-sweep';
const guardClock = { now: () => Date.now() };

/**
 * The partitions of one input topic this replica owns, for the guard's sweep: the state of each as its handler last
 * saw it (none before its first batch: a partition still unseen REWAKE_MS after its assignment, a quiet one after a
 * restart, is woken once so that it restores its decisions and sweeps them), and when each was last woken.
 */
class SweptPartitions<S extends { hasDue(now: number): boolean }> {
  private assigned: number[] = [];
  private assignedAt = 0;
  private readonly states = new Map<number, S>();
  private readonly wokenAt = new Map<number, number>();

  assign(partitions: number[]): void {
    this.assigned = [...partitions];
    this.assignedAt = Date.now();
    this.states.clear();
    this.wokenAt.clear();
  }

  seen(partition: number, state: S): void {
    this.states.set(partition, state);
  }

  forget(partition: number): void {
    this.states.delete(partition);
  }

  /**
   * The partitions to wake now: unseen ones (once), and those holding a decision that has lapsed or that the settings
   * no longer make.
   */
  due(now: number): number[] {
    return this.assigned.filter((p) => {
      const woken = this.wokenAt.get(p);
      const state = this.states.get(p);
      const wanted = state ? state.hasDue(now) : woken === undefined && now - this.assignedAt >= REWAKE_MS;
      if (!wanted || (woken !== undefined && now - woken < REWAKE_MS)) return false;
      this.wokenAt.set(p, now);
      return true;
    });
  }
}
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
  private readonly agentPartitions = new SweptPartitions<Detector>();
  private readonly teamPartitions = new SweptPartitions<TeamDetector>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private wakeProducer: Producer | undefined;
  private readonly decisions;

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
    this.decisions = metrics.counter(
      'burnrate_guard_decisions_total',
      'Guard decisions published on agent-controls (block) or lifted (tombstone)',
      ['source', 'kind'] as const,
    );
    metrics.startAtZero(this.decisions, { source: ['rule', 'budget'], kind: ['block', 'lift'] });
    const parse = (value: Buffer | null) => (value === null ? null : JSON.parse(value.toString()));
    this.agentStore = new PartitionStore<Detector>({
      name: 'detector',
      kafka: kafka.kafka,
      input: Topics.agentStats,
      changelog: AGENT_CHANGELOG,
      create: () =>
        new Detector(this.settings.lookup, (team) => this.teamDaily.get(team) ?? null, guardClock),
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
      create: () => new TeamDetector(this.settings.lookup, guardClock),
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

  private controlRecords(controls: ControlRecord[]): OutboundRecord[] {
    const serde = this.kafka.serde;
    return controls.map((c) => {
      this.decisions.inc({
        source: c.key.startsWith('budget:') ? 'budget' : 'rule',
        kind: c.value ? 'block' : 'lift',
      });
      return {
        topic: Topics.agentControls.name,
        key: c.key,
        value: c.value === null ? null : serde.encode(Topics.agentControls, c.value),
      };
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
      controlRecords: true,
      onAssignment: (assignment) => {
        this.agentStore.assign(assignment[Topics.agentStats.name] ?? []);
        this.agentPartitions.assign(assignment[Topics.agentStats.name] ?? []);
        this.agents.reset();
      },
      onUncommitted: (_topic, partition) => {
        this.agentStore.drop(partition);
        this.agentPartitions.forget(partition);
      },
      handler: async (records, ctx) => {
        const detector = await this.agentStore.get(ctx.partition, ctx.heartbeat);
        await this.freshSettings();
        const now = Date.now();
        // control records (the guard sweep's wake-ups) only make the batch happen: the sweep runs with every batch
        const stats = records.filter((r) => r.control === undefined).map((r) => r.value);
        for (const s of stats)
          if (s.signals && !s.late) this.lagMs.observe(Math.max(0, now - s.signals.last_run_at) / 1000);
        const batch = detectBatch(detector, stats);
        this.agentPartitions.seen(ctx.partition, detector);
        this.agents.set({ partition: String(ctx.partition) }, detector.agents.size);
        return {
          outputs: [
            ...this.anomalyRecords(batch.anomalies),
            ...this.controlRecords(batch.controls),
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
      controlRecords: true,
      onAssignment: (assignment) => {
        this.teamStore.assign(assignment[Topics.teamSpend.name] ?? []);
        this.teamPartitions.assign(assignment[Topics.teamSpend.name] ?? []);
        this.teams.reset();
      },
      onUncommitted: (_topic, partition) => {
        this.teamStore.drop(partition);
        this.teamPartitions.forget(partition);
      },
      handler: async (records, ctx) => {
        const teams = await this.teamStore.get(ctx.partition, ctx.heartbeat);
        await this.freshSettings();
        const batch = detectTeamBatch(
          teams,
          records.filter((r) => r.control === undefined).map((r) => r.value),
        );
        this.teamPartitions.seen(ctx.partition, teams);
        this.teams.set({ partition: String(ctx.partition) }, teams.teams.size);
        return {
          outputs: [
            ...this.anomalyRecords(batch.anomalies),
            ...this.controlRecords(batch.controls),
            ...batch.ledgers.map((l) => this.teamStore.record(ctx.partition, l.key, l.value)),
          ],
        };
      },
    });
    this.sweepTimer = setInterval(
      () => void this.sweep().catch((err: unknown) => this.log.warn('guard sweep wake-up failed', { err })),
      this.config.GUARD_SWEEP_MS,
    );
    this.sweepTimer.unref();
    this.consumers.push(agentsConsumer as BatchConsumer<unknown>, teamsConsumer as BatchConsumer<unknown>);
    await Promise.all([agentsConsumer.start(), teamsConsumer.start()]);
  }

  /**
   * The guard's wall-clock sweep: a control record to each owned partition holding a decision whose `until` has passed
   * (and once to each not handled yet since its assignment, whose state is not restored), so that its owner lifts the
   * decision in its own transaction, with the changelog and the resolution (detectBatch sweeps with every batch). A
   * blocked agent sends no runs: without this its block would never be lifted.
   */
  private async sweep(): Promise<void> {
    const now = Date.now();
    const wake = [
      ...this.agentPartitions.due(now).map((partition) => ({ topic: Topics.agentStats.name, partition })),
      ...this.teamPartitions.due(now).map((partition) => ({ topic: Topics.teamSpend.name, partition })),
    ];
    if (!wake.length) return;
    if (!this.wakeProducer) {
      const producer = this.kafka.kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
      await producer.connect();
      this.wakeProducer = producer;
    }
    await this.wakeProducer.sendBatch({
      acks: -1,
      topicMessages: [Topics.agentStats.name, Topics.teamSpend.name]
        .map((topic) => ({
          topic,
          messages: wake
            .filter((w) => w.topic === topic)
            .map((w) => ({
              partition: w.partition,
              key: null,
              value: Buffer.alloc(0),
              headers: { [CONTROL_HEADER]: GUARD_SWEEP },
            })),
        }))
        .filter((t) => t.messages.length > 0),
    });
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
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    void this.wakeProducer?.disconnect().catch(() => undefined);
    this.agentStore.releaseAll();
    this.teamStore.releaseAll();
  }
}

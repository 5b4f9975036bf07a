import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics, changelogTopic, type PricedRun } from '@libs/contracts';
import { PG_POOL } from '@libs/db';
import type { Producer } from 'kafkajs';
import { CONTROL_HEADER, KafkaService, PartitionStore, type BatchConsumer } from '@libs/kafka';
import { JsonLogger, Metrics } from '@libs/observability';
import { PgTeamSettingsRepository, TeamSettingsCache } from '@libs/team-settings';
import { aggregationSettings, type AggregationSettings } from './core/agent-state';
import { PartitionState, type AggregatorOptions } from './core/aggregator';
import { FileColdAgents } from './file-cold-agents';
import { aggregatorSpec } from './aggregator.config';

export const STATE_CHANGELOG = changelogTopic('aggregator', 'state');

/**
 * runs.priced -> agent-stats. Per input partition: its agents' windows and baselines, its stream time and the run ids
 * recently counted, changed by each slice of runs and written to a compacted changelog topic (the same partition
 * number) in the Kafka transaction that also carries the slice's stats records and consumed offsets. State and
 * outputs therefore never disagree: after a crash, a restart or a rebalance, the new owner of a partition restores it
 * from the changelog before its first batch and carries on exactly where the last commit left it.
 */
@Injectable()
export class AggregatorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly settings: TeamSettingsCache;
  private readonly options: AggregatorOptions;
  private readonly store: PartitionStore<PartitionState>;
  private consumer: BatchConsumer<PricedRun> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly log: JsonLogger;
  private readonly runs;
  private readonly emitted;
  private readonly agents;
  private readonly coldAgents;
  private readonly remembered;
  private stateDir: string | undefined;
  /** The settings generation each partition was last judged again at (a partition new here: from now). */
  private readonly generations = new Map<number, number>();
  /** The input partitions this replica owns, which it wakes when settings change. */
  private assigned: number[] = [];
  /** The settings generation the partitions were last woken for. */
  private wokenAt = 0;
  private wakeProducer: Producer | undefined;
  private readonly moves;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigOf<typeof aggregatorSpec>,
    @Inject(PG_POOL) pool: Pool,
    private readonly kafka: KafkaService,
    logger: JsonLogger,
    metrics: Metrics,
  ) {
    this.settings = new TeamSettingsCache(new PgTeamSettingsRepository(pool));
    this.options = {
      graceMs: config.GRACE_MS,
      maxBaselineDays: config.MAX_BASELINE_DAYS,
      dedupeWindowMs: config.DEDUPE_WINDOW_MS,
      dedupeMaxIds: config.DEDUPE_MAX_IDS,
      idleUnloadMs: config.IDLE_UNLOAD_MS,
      maxAgentsInMemory: config.MAX_AGENTS_IN_MEMORY,
    };
    this.log = logger.child({ component: 'aggregator' });
    this.runs = metrics.counter(
      'burnrate_aggregator_runs_total',
      'Priced runs by what the aggregator did with them',
      ['outcome'] as const,
    );
    metrics.startAtZero(this.runs, { outcome: ['counted', 'duplicate', 'late', 'too_old'] });
    this.emitted = metrics.counter('burnrate_agent_stats_emitted_total', 'agent-stats records produced', [
      'late',
    ] as const);
    metrics.startAtZero(this.emitted, { late: ['false', 'true'] });
    this.agents = metrics.gauge('burnrate_aggregator_agents', 'Agents held in memory', [
      'partition',
    ] as const);
    this.coldAgents = metrics.gauge(
      'burnrate_aggregator_agents_unloaded',
      'Idle agents out of memory, in the state directory',
      ['partition'] as const,
    );
    this.remembered = metrics.gauge('burnrate_aggregator_dedupe_ids', 'Run ids remembered for dedupe', [
      'partition',
    ] as const);
    this.moves = metrics.counter(
      'burnrate_aggregator_agent_moves_total',
      'Agents moved out of memory (idle) or back into it (a new run)',
      ['to'] as const,
    );
    metrics.startAtZero(this.moves, { to: ['disk', 'memory'] });
    this.store = new PartitionStore<PartitionState>({
      name: 'aggregator',
      kafka: kafka.kafka,
      input: Topics.runsPriced,
      changelog: STATE_CHANGELOG,
      create: (p) =>
        new PartitionState(p, this.options, this.settingsOf, FileColdAgents.forPartition(this.stateDir!, p)),
      restore: (state, key, value) => state.restore(key, value === null ? null : value.toString()),
      restored: (state) => state.finishRestore(),
      release: (state) => {
        state.cold.close();
        this.agents.remove({ partition: String(state.partition) });
        this.coldAgents.remove({ partition: String(state.partition) });
        this.remembered.remove({ partition: String(state.partition) });
      },
      describe: (states) => ({ agents: states.reduce((n, s) => n + s.cold.size, 0) }),
      log: this.log,
      metrics,
    });
  }

  private readonly settingsOf = (team: string, agentId?: string): AggregationSettings =>
    aggregationSettings(this.settings.lookup(team, agentId));

  async onApplicationBootstrap(): Promise<void> {
    mkdirSync(this.config.STATE_DIR, { recursive: true });
    this.stateDir = mkdtempSync(join(this.config.STATE_DIR, 'burnrate-aggregator-'));
    await this.reloadSettings();
    this.timer = setInterval(
      () =>
        void this.reloadSettings().catch((err: unknown) => this.log.error('settings reload failed', { err })),
      this.config.SETTINGS_POLL_MS,
    );
    this.timer.unref();
    await this.store.matchPartitions();
    this.consumer = this.kafka.createConsumer<PricedRun>({
      groupId: this.config.CONSUMER_GROUP,
      topics: [Topics.runsPriced],
      transactional: true,
      transactionalId: `${this.config.CONSUMER_GROUP}-${this.config.INSTANCE_ID}`,
      maxRecordsPerCommit: this.config.MAX_RUNS_PER_SLICE,
      controlRecords: true,
      onAssignment: (assignment) => {
        // Whatever this replica held may have moved on elsewhere since: every partition is restored afresh.
        this.assigned = assignment[Topics.runsPriced.name] ?? [];
        this.store.assign(this.assigned);
        this.generations.clear();
        this.agents.reset();
        this.coldAgents.reset();
        this.remembered.reset();
      },
      onUncommitted: (_topic, partition) => {
        this.store.drop(partition);
        this.log.warn('slice not committed; partition state dropped, to be restored', { partition });
      },
      handler: async (records, ctx) => {
        const state = await this.store.get(ctx.partition, ctx.heartbeat);
        // settings changed since this partition's last batch: judged again first, then the batch by the new ones
        await this.freshSettings();
        const changedTeams = this.settings.changedSince(this.generations.get(ctx.partition) ?? Infinity);
        this.generations.set(ctx.partition, this.settings.generation);
        const again = state.reevaluate(new Set(changedTeams), (team) =>
          this.settings
            .lookup(team)
            .budgets.filter((b) => b.scope === 'customer')
            .map((b) => b.subject),
        );
        // control records (a wake after a settings change) only make the batch happen
        const result = state.process(records.filter((r) => r.control === undefined).map((r) => r.value));
        result.stats.unshift(...again.stats);
        result.teamSpend.unshift(...again.teamSpend);
        const serde = this.kafka.serde;
        this.runs.inc({ outcome: 'counted' }, result.counts.accepted);
        if (result.counts.duplicates) this.runs.inc({ outcome: 'duplicate' }, result.counts.duplicates);
        if (result.counts.late) this.runs.inc({ outcome: 'late' }, result.counts.late);
        if (result.counts.tooOld) this.runs.inc({ outcome: 'too_old' }, result.counts.tooOld);
        if (result.counts.unloaded) this.moves.inc({ to: 'disk' }, result.counts.unloaded);
        if (result.counts.revived) this.moves.inc({ to: 'memory' }, result.counts.revived);
        for (const s of result.stats) this.emitted.inc({ late: String(s.value.late) });
        this.agents.set({ partition: String(ctx.partition) }, state.agents.size);
        this.coldAgents.set({ partition: String(ctx.partition) }, state.cold.size);
        this.remembered.set({ partition: String(ctx.partition) }, state.rememberedIds);
        return {
          outputs: [
            ...result.stats.map((s) => ({
              topic: Topics.agentStats.name,
              key: s.key,
              value: serde.encode(Topics.agentStats, s.value),
            })),
            ...result.teamSpend.map((t) => ({
              topic: Topics.teamSpend.name,
              key: t.team,
              value: serde.encode(Topics.teamSpend, t),
            })),
            ...result.changelog.map((c) => this.store.record(ctx.partition, c.key, c.value)),
          ],
        };
      },
    });
    await this.consumer.start();
  }

  /**
   * The settings as of now, before a batch: a run that arrived after a settings change committed is aggregated with
   * it (one read of the settings version; a reload when it moved). If PostgreSQL cannot say, the settings held are used
   * and the timer catches up.
   */
  private async freshSettings(): Promise<void> {
    try {
      await this.settings.refresh();
    } catch (err) {
      this.log.warn('settings version unreadable; the batch uses the settings held', { err });
    }
  }

  private async reloadSettings(): Promise<void> {
    // (a batch may have loaded the change first: what counts is whether it was woken for)
    if (await this.settings.refresh()) this.log.info('team settings loaded');
    const changed = this.settings.changedSince(this.wokenAt);
    this.wokenAt = this.settings.generation;
    if (changed.length) await this.wake(changed);
  }

  /**
   * After a settings change: a control record to each input partition this replica owns, so that each has a batch soon,
   * which judges the changed teams' current windows again (the handler's reevaluate), even where no run comes. A
   * partition that is busy gets to it with its next runs anyway; one that is quiet would wait for its next run.
   */
  private async wake(teams: string[]): Promise<void> {
    const partitions = [...this.assigned];
    if (!partitions.length) return;
    if (!this.wakeProducer) {
      const producer = this.kafka.kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
      await producer.connect();
      this.wakeProducer = producer;
    }
    await this.wakeProducer.send({
      topic: Topics.runsPriced.name,
      acks: -1,
      messages: partitions.map((partition) => ({
        partition,
        key: null,
        value: Buffer.alloc(0),
        headers: { [CONTROL_HEADER]: 'settings-changed' },
      })),
    });
    this.log.info('settings changed: partitions woken to judge the teams again', {
      teams: teams.slice(0, 20),
      partitions: partitions.length,
    });
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    void this.wakeProducer?.disconnect().catch(() => undefined);
    this.store.releaseAll();
    if (this.stateDir) rmSync(this.stateDir, { recursive: true, force: true });
  }
}

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { CONFIG, type ConfigOf } from '@libs/config';
import { Topics, changelogTopic, type PricedRun } from '@libs/contracts';
import { PG_POOL } from '@libs/db';
import { KafkaService, type BatchConsumer } from '@libs/kafka';
import { JsonLogger, Metrics } from '@libs/observability';
import { PgTeamSettingsRepository, TeamSettingsCache } from '@libs/team-settings';
import type { AggregationSettings } from './core/agent-state';
import { PartitionState, type AggregatorOptions } from './core/aggregator';
import { restorePartitions } from './changelog';
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
  private readonly partitions = new Map<number, PartitionState>();
  private assigned = new Set<number>();
  private consumer: BatchConsumer<PricedRun> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly log: JsonLogger;
  private readonly runs;
  private readonly emitted;
  private readonly agents;
  private readonly coldAgents;
  private readonly remembered;
  private stateDir: string | undefined;
  private readonly restoreSeconds;
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
    this.emitted = metrics.counter('burnrate_agent_stats_emitted_total', 'agent-stats records produced', [
      'late',
    ] as const);
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
    this.restoreSeconds = metrics.histogram(
      'burnrate_aggregator_restore_seconds',
      'Time to restore partitions from the changelog',
      [] as const,
      [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
    );
  }

  private readonly settingsOf = (team: string): AggregationSettings => {
    const s = this.settings.lookup(team);
    return {
      timezone: s.timezone,
      qualityThreshold: s.qualityThreshold,
      baselineDays: s.zscore.baselineDays,
      sessionIdleMs: s.session.idleCloseMs,
    };
  };

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
    await this.matchChangelogPartitions();
    this.consumer = this.kafka.createConsumer<PricedRun>({
      groupId: this.config.CONSUMER_GROUP,
      topics: [Topics.runsPriced],
      transactional: true,
      transactionalId: `${this.config.CONSUMER_GROUP}-${this.config.INSTANCE_ID}`,
      maxRecordsPerCommit: this.config.MAX_RUNS_PER_SLICE,
      onAssignment: (assignment) => {
        // Whatever this replica held may have moved on elsewhere since: every partition is restored afresh.
        this.assigned = new Set(assignment[Topics.runsPriced.name] ?? []);
        this.dropPartitions([...this.partitions.keys()]);
        this.agents.reset();
        this.coldAgents.reset();
        this.remembered.reset();
      },
      onUncommitted: (_topic, partition) => {
        this.dropPartitions([partition]);
        this.log.warn('slice not committed; partition state dropped, to be restored', { partition });
      },
      handler: async (records, ctx) => {
        const state = await this.stateOf(ctx.partition);
        const result = state.process(records.map((r) => r.value));
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
            ...result.changelog.map((c) => ({
              topic: STATE_CHANGELOG.name,
              key: c.key,
              value: c.value === null ? null : Buffer.from(c.value),
              partition: ctx.partition,
            })),
          ],
        };
      },
    });
    await this.consumer.start();
  }

  /**
   * State of input partition p lives in changelog partition p, so the changelog needs at least as many partitions as
   * runs.priced (more are created here when runs.priced has been given more).
   */
  private async matchChangelogPartitions(): Promise<void> {
    const admin = this.kafka.kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({
        topics: [Topics.runsPriced.name, STATE_CHANGELOG.name],
      });
      const count = (name: string) => topics.find((t) => t.name === name)?.partitions.length ?? 0;
      const [input, changelog] = [count(Topics.runsPriced.name), count(STATE_CHANGELOG.name)];
      if (changelog < input) {
        await admin.createPartitions({ topicPartitions: [{ topic: STATE_CHANGELOG.name, count: input }] });
        this.log.info('changelog partitions raised to match runs.priced', { from: changelog, to: input });
      }
    } finally {
      await admin.disconnect();
    }
  }

  /** The partition's state, restored (with every other assigned partition not yet restored) on first use. */
  private async stateOf(partition: number): Promise<PartitionState> {
    const existing = this.partitions.get(partition);
    if (existing) return existing;
    const wanted = [...new Set([...this.assigned, partition])].filter((p) => !this.partitions.has(p));
    const fresh = new Map(
      wanted.map((p) => [
        p,
        new PartitionState(p, this.options, this.settingsOf, FileColdAgents.forPartition(this.stateDir!, p)),
      ]),
    );
    const started = process.hrtime.bigint();
    let records: number;
    try {
      records = await restorePartitions(this.kafka.kafka, STATE_CHANGELOG.name, wanted, (p, key, value) =>
        fresh.get(p)!.restore(key, value),
      );
      for (const s of fresh.values()) s.finishRestore();
    } catch (err) {
      for (const s of fresh.values()) s.cold.close();
      throw err;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.restoreSeconds.observe(seconds);
    for (const [p, s] of fresh) this.partitions.set(p, s);
    this.log.info('partitions restored from changelog', {
      partitions: wanted,
      records,
      agents: [...fresh.values()].reduce((n, s) => n + s.cold.size, 0),
      seconds: Math.round(seconds * 1000) / 1000,
    });
    return this.partitions.get(partition)!;
  }

  private async reloadSettings(): Promise<void> {
    if (await this.settings.refresh()) this.log.info('team settings loaded');
  }

  /** Forgets partitions (to be restored afresh if they come back) and removes their files. */
  private dropPartitions(partitions: number[]): void {
    for (const p of partitions) {
      this.partitions.get(p)?.cold.close();
      this.partitions.delete(p);
    }
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.dropPartitions([...this.partitions.keys()]);
    if (this.stateDir) rmSync(this.stateDir, { recursive: true, force: true });
  }
}

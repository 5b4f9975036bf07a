import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Counter, Histogram } from 'prom-client';
import { API_KEYS, type ApiKeyRepository, type Principal } from '@libs/auth';
import { Topics, agentKey, controlKey } from '@libs/contracts';
import { JsonLogger, Metrics } from '@libs/observability';
import { AgentControlsKafka, GuardKafkaUnavailable, type GuardRecord } from './agent-controls.kafka';
import { ControlView } from './core/control-view';
import { decide, type GuardDecision, type GuardQuery } from './core/decision';
import {
  EXPIRY_ACTOR,
  actorOf,
  manualBlockAnomaly,
  manualControl,
  type ManualBlock,
} from './core/manual-block';
import { GuardBlocksRepository, type NewManualBlock } from './guard-blocks.repository';

/** Decisions take microseconds: buckets from 5 µs to 50 ms. */
const DECISION_BUCKETS = [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.05];

/**
 * The guard: decisions from the in-memory view of the agent-controls topic (nothing else on that path), and manual
 * blocks, each recorded in guard_blocks and published as a control (the block) and an anomaly (the page). A block is
 * recorded only once Kafka has acknowledged its records; if the row cannot be committed after they may have gone out,
 * the block is withdrawn (its tombstone and resolve follow it on the same partitions).
 */
/** How often each replica lifts the manual blocks whose `until` has passed (their incidents resolve then). */
const EXPIRE_EVERY_MS = 5_000;

@Injectable()
export class GuardService implements OnApplicationBootstrap, OnModuleDestroy {
  private expiry: NodeJS.Timeout | undefined;
  private readonly latency: Histogram;
  private readonly decisions: Counter<'decision'>;
  private readonly log: JsonLogger;

  constructor(
    private readonly view: ControlView,
    private readonly kafka: AgentControlsKafka,
    private readonly blocks: GuardBlocksRepository,
    @Inject(API_KEYS) private readonly keys: Pick<ApiKeyRepository, 'get'>,
    metrics: Metrics,
    logger: JsonLogger,
  ) {
    this.log = logger.child({ component: 'guard' });
    this.latency = metrics.histogram(
      'burnrate_guard_decision_seconds',
      'Time to decide one GET /v1/guard from the in-memory view',
      [],
      DECISION_BUCKETS,
    );
    this.decisions = metrics.counter('burnrate_guard_decisions_total', 'Guard decisions, by outcome', [
      'decision',
    ]);
    metrics.startAtZero(this.decisions, { decision: ['allow', 'block'] });
  }

  decide(query: GuardQuery): GuardDecision {
    const started = process.hrtime.bigint();
    const decision = decide(this.view.candidates(query.team, query.agent_id), query, Date.now());
    this.latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.decisions.inc({ decision: decision.decision });
    return decision;
  }

  async block(input: Omit<NewManualBlock, 'created_by_key_id'>, by: Principal): Promise<ManualBlock> {
    const actor = await this.actor(by);
    let sent: ManualBlock | undefined;
    try {
      return await this.blocks.create({ ...input, created_by_key_id: by.keyId }, async (block) => {
        try {
          await this.kafka.publish(this.blockRecords(block, actor));
        } catch (err) {
          if (!(err instanceof GuardKafkaUnavailable) || err.maybeSent) sent = block;
          throw err;
        }
        sent = block;
      });
    } catch (err) {
      if (sent) this.withdraw(sent, actor);
      throw err;
    }
  }

  /** Lifts a block of `team` (any team: null); null when there is none. Lifting a lifted block changes nothing. */
  async lift(id: string, team: string | null, by: Principal): Promise<ManualBlock | null> {
    const actor = await this.actor(by);
    return this.blocks.lift(id, team, by.keyId, (block) =>
      this.kafka.publish(this.liftRecords(block, actor, block.lifted_at!)),
    );
  }

  /**
   * Lifts the manual blocks whose `until` has passed: tombstone and resolving anomaly published, row marked lifted at
   * its `until` (a lapsed block already allows; this closes its incident). Every replica sweeps; the database hands
   * each block to one of them. A failure is retried at the next sweep.
   */
  async expire(): Promise<number> {
    const lifted = await this.blocks.expireDue(100, (blocks) =>
      this.kafka.publish(blocks.flatMap((b) => this.liftRecords(b, EXPIRY_ACTOR, b.until ?? Date.now()))),
    );
    return lifted.length;
  }

  onApplicationBootstrap(): void {
    this.expiry = setInterval(() => {
      this.expire().catch((err: unknown) =>
        this.log.warn('lifting lapsed manual blocks failed; retried at the next sweep', {
          err: (err as Error).message,
        }),
      );
    }, EXPIRE_EVERY_MS);
    this.expiry.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.expiry);
  }

  list(team: string | null, limit: number, after: readonly [string, string] | null) {
    return this.blocks.list(team, limit, after);
  }

  private async actor(by: Principal): Promise<string> {
    return actorOf(by.keyId, (await this.keys.get(by.keyId))?.name ?? null);
  }

  private blockRecords(block: ManualBlock, actor: string): GuardRecord[] {
    return [
      { topic: Topics.agentControls, key: controlKey.manual(block.id), value: manualControl(block, actor) },
      {
        topic: Topics.anomalies,
        key: agentKey(block.team, block.agent_id),
        value: manualBlockAnomaly(block, 'firing', block.created_at, actor),
      },
    ];
  }

  private liftRecords(block: ManualBlock, actor: string, at: number): GuardRecord[] {
    return [
      { topic: Topics.agentControls, key: controlKey.manual(block.id), value: null },
      {
        topic: Topics.anomalies,
        key: agentKey(block.team, block.agent_id),
        value: manualBlockAnomaly(block, 'resolved', at, actor),
      },
    ];
  }

  /** A block whose records may be out but whose row was not recorded: its tombstone and resolve, in the background. */
  private withdraw(block: ManualBlock, actor: string): void {
    this.log.warn('manual block not recorded; withdrawing its records', {
      block: block.id,
      team: block.team,
    });
    this.kafka.publish(this.liftRecords(block, actor, Date.now())).catch((err: unknown) =>
      this.log.error('withdrawing an unrecorded manual block failed', {
        block: block.id,
        team: block.team,
        err: (err as Error).message,
      }),
    );
  }
}

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Counter, Gauge } from 'prom-client';
import { CONFIG } from '@libs/config';
import { Topics, type AgentControl, type TopicSpec } from '@libs/contracts';
import {
  AvroSerde,
  BatchProducer,
  SerdeError,
  createKafka,
  provisionTopics,
  type OutboundRecord,
} from '@libs/kafka';
import { Health, JsonLogger, Metrics, withTimeout } from '@libs/observability';
import type { ApiConfig } from '../api.config';
import { CatchUp } from './core/catch-up';
import { ControlView } from './core/control-view';

const RETRY_MS = 2000;

/** A record for the guard to publish: its value is encoded with the topic's schema, or null (a tombstone). */
export interface GuardRecord {
  topic: TopicSpec;
  key: string;
  value: object | null;
}

/**
 * Kafka cannot take the guard's records right now: not connected yet (nothing was sent), or the send failed or timed
 * out (`maybeSent`: the producer retries on, so they may still be written).
 */
export class GuardKafkaUnavailable extends Error {
  constructor(
    message: string,
    readonly maybeSent: boolean,
  ) {
    super(message);
    this.name = 'GuardKafkaUnavailable';
  }
}

type Settings = Pick<
  ApiConfig,
  'GUARD_PUBLISH_TIMEOUT_S' | 'KAFKA_SESSION_TIMEOUT_MS' | 'KAFKA_FETCH_MAX_WAIT_MS'
> &
  Parameters<typeof createKafka>[0] &
  Parameters<typeof AvroSerde.create>[0] &
  Parameters<typeof provisionTopics>[1];

/**
 * The guard's Kafka: every replica reads the whole compacted agent-controls topic into the ControlView (all partitions,
 * from the beginning, with a consumer group of its own that never commits) and publishes manual blocks. It connects in
 * the background, retrying, so the api serves its other routes meanwhile; its readiness check fails until the view has
 * read up to the end offsets the topic had when it started, and holds once it has (a replica that loses Kafka later
 * answers from what it read).
 */
@Injectable()
export class AgentControlsKafka implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly kafka: Kafka;
  private readonly producer: BatchProducer;
  private readonly log: JsonLogger;
  private readonly groupId: string;
  private admin: Admin | undefined;
  private consumer: Consumer | undefined;
  private serde: AvroSerde | undefined;
  private stopped = false;
  private starting: Promise<void> | undefined;
  private crashed: string | null = null;
  /** End offset of each partition when the read started; null until known. */
  private ends: Map<number, bigint> | null = null;
  /** How far the read is, from the consumer's first joining its group. */
  private catchUp: CatchUp | null = null;
  private reported = false;
  /**
   * The next offset to apply, per partition. Nothing is committed, so a consumer that rejoins (a restart after an
   * error) reads from the beginning again: what was applied is passed over, and a lifted block is not brought back.
   */
  private readonly applied = new Map<number, bigint>();
  private readonly records: Counter<'kind'>;
  private readonly undecodable: Counter.Internal;
  private readonly controls: Gauge;

  constructor(
    @Inject(CONFIG) private readonly config: Settings,
    private readonly view: ControlView,
    logger: JsonLogger,
    metrics: Metrics,
    health: Health,
  ) {
    this.log = logger.child({ component: 'guard' });
    this.kafka = createKafka(config, 'api-guard', this.log);
    this.producer = new BatchProducer(this.kafka);
    this.groupId = `${config.KAFKA_CLIENT_ID}-api-guard-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.records = metrics.counter(
      'burnrate_guard_view_records_total',
      'Agent-control records read into the guard view, by kind (control, tombstone, undecodable)',
      ['kind'],
    );
    metrics.startAtZero(this.records, { kind: ['control', 'tombstone', 'undecodable'] });
    this.undecodable = this.records.labels({ kind: 'undecodable' });
    this.controls = metrics.gauge('burnrate_guard_view_controls', 'Agent controls held in the guard view');
    health.register('guard-view', () => {
      const behind = this.behind();
      return behind === null ? Promise.resolve() : Promise.reject(new Error(behind));
    });
    health.registerLiveness('guard-view', () => this.crashed);
  }

  onApplicationBootstrap(): void {
    this.starting = this.start();
  }

  /** Null once the view has caught up; otherwise how far it is. */
  behind(): string | null {
    if (this.catchUp?.caughtUp) return null;
    if (!this.catchUp) return 'the guard view is connecting to Kafka';
    return `the guard view is reading ${Topics.agentControls.name}: partitions ${this.catchUp.behind().join(', ')} behind`;
  }

  /** Sends the records (all or none acknowledged, as far as a producer can say) within GUARD_PUBLISH_TIMEOUT_S. */
  async publish(records: readonly GuardRecord[]): Promise<void> {
    const serde = this.serde;
    if (!serde || !this.producer.isConnected)
      throw new GuardKafkaUnavailable('the api is not connected to Kafka yet', false);
    const outbound: OutboundRecord[] = records.map((r) => ({
      topic: r.topic.name,
      key: r.key,
      value: r.value === null ? null : serde.encode(r.topic, r.value),
    }));
    const timeoutS = this.config.GUARD_PUBLISH_TIMEOUT_S;
    try {
      await withTimeout(
        this.producer.send(outbound),
        timeoutS * 1000,
        `not acknowledged within ${timeoutS} s`,
      );
    } catch (err) {
      throw new GuardKafkaUnavailable(
        `Kafka did not take the guard's records: ${(err as Error).message}`,
        true,
      );
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    // a connection still being retried gives up at its next step; shutdown does not wait out its retries
    if (this.starting) await withTimeout(this.starting, 2000, 'still connecting').catch(() => undefined);
    await this.consumer?.disconnect().catch(() => undefined);
    await withTimeout(this.producer.disconnect(), 10_000, 'guard producer flush timed out').catch(
      (err: unknown) => this.log.error('guard producer disconnect failed', { err }),
    );
    await this.admin?.disconnect().catch(() => undefined);
  }

  private async start(): Promise<void> {
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.connect();
        return;
      } catch (err) {
        this.log.warn('guard cannot reach Kafka yet; retrying', { attempt, err: (err as Error).message });
        await this.consumer?.disconnect().catch(() => undefined);
        this.consumer = undefined;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  private async connect(): Promise<void> {
    if (!this.catchUp?.caughtUp) this.catchUp = null;
    const topics = [Topics.agentControls, Topics.anomalies];
    this.admin ??= this.kafka.admin();
    await this.admin.connect();
    await provisionTopics(this.admin, this.config, topics);
    this.serde ??= await AvroSerde.create(this.config, topics);
    if (this.stopped) return;
    await this.producer.connect();
    const topic = Topics.agentControls.name;
    this.ends = new Map(
      (await this.admin.fetchTopicOffsets(topic)).map((p) => [
        p.partition,
        BigInt(p.low) >= BigInt(p.high) ? 0n : BigInt(p.high),
      ]),
    );
    if (this.stopped) return;
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      readUncommitted: false,
      sessionTimeout: this.config.KAFKA_SESSION_TIMEOUT_MS,
      maxWaitTimeInMs: this.config.KAFKA_FETCH_MAX_WAIT_MS,
    });
    this.consumer = consumer;
    const ends = this.ends;
    const startedAt = Date.now();
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.catchUp ??= new CatchUp(ends, Date.now());
      this.reportCaughtUp(startedAt);
    });
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      this.catchUp?.batchProcessed(payload.partition, BigInt(payload.lastOffset), Date.now());
      this.reportCaughtUp(startedAt);
    });
    consumer.on(consumer.events.FETCH, () => this.catchUp?.fetched(Date.now()));
    consumer.on(consumer.events.FETCH_START, () => {
      this.catchUp?.fetchStarting(Date.now());
      this.reportCaughtUp(startedAt);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.log.error('guard view consumer crashed', { err: payload.error.message, restart: payload.restart });
      if (!payload.restart) this.crashed = `guard view consumer crashed: ${payload.error.message}`;
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatch: (payload) => this.onBatch(payload) });
    this.log.info('guard view reading', { topic, group: this.groupId });
  }

  private async onBatch({ batch }: EachBatchPayload): Promise<void> {
    const from = this.applied.get(batch.partition) ?? 0n;
    const messages = batch.messages.filter((m) => BigInt(m.offset) >= from);
    if (messages.length === 0) return;
    const decoded = await this.serde!.decodeMany<AgentControl>(
      Topics.agentControls,
      messages.map((m) => m.value ?? Buffer.alloc(0)), // a tombstone is not decoded
    );
    messages.forEach((m, i) => {
      const key = m.key?.toString();
      const value = decoded[i];
      if (key === undefined) {
        this.undecodable.inc();
        this.log.error('agent control without a key left out', {
          partition: batch.partition,
          offset: m.offset,
        });
      } else if (m.value === null) {
        this.view.apply(key, null);
        this.records.inc({ kind: 'tombstone' });
      } else if (value instanceof SerdeError) {
        // the key's last readable control stays: a record no replica can read must not lift a block unseen
        this.undecodable.inc();
        this.log.error('undecodable agent control left out', {
          key,
          partition: batch.partition,
          offset: m.offset,
          err: value.message,
        });
      } else {
        this.view.apply(key, value);
        this.records.inc({ kind: 'control' });
      }
    });
    this.applied.set(batch.partition, BigInt(messages[messages.length - 1].offset) + 1n);
    this.controls.set(this.view.size);
  }

  private reportCaughtUp(since: number): void {
    if (this.reported || !this.catchUp?.caughtUp) return;
    this.reported = true;
    this.log.info('guard view caught up', {
      controls: this.view.size,
      ms: Date.now() - since,
      ...(this.catchUp.byQuiet && { by: 'quiet', partitions_short_of_their_end: this.catchUp.behind() }),
    });
  }
}

import type { Kafka, KafkaMessage } from 'kafkajs';
import type { TopicSpec } from '@libs/contracts';
import type { JsonLogger, Metrics } from '@libs/observability';
import type { OutboundRecord } from './batch-producer';
import { readPartitions } from './partition-reader';

export interface PartitionStoreOptions<S> {
  /** Names the store in metrics and logs (`aggregator`, `detector`, ...). */
  name: string;
  kafka: Kafka;
  /** The topic whose partitions the state follows: the state of its partition p is in changelog partition p. */
  input: TopicSpec;
  /** The store's compacted changelog topic. */
  changelog: TopicSpec;
  /** A partition's empty state. */
  create(partition: number): S;
  /** Applies one changelog record (its key, and its value or null for a delete), in offset order. */
  restore(state: S, key: string, value: Buffer | null): void;
  /** After the last record of a restore. */
  restored?(state: S): void;
  /** The partition leaves this replica (revoked, or a slice not committed): release what the state holds. */
  release?(state: S, partition: number): void;
  /** Fields for the log line of a restore (e.g. how many agents came back). */
  describe?(restored: S[]): Record<string, unknown>;
  log: JsonLogger;
  metrics: Metrics;
}

/**
 * Per-partition state backed by a compacted changelog topic, Kafka Streams' model: the state of input partition p is
 * written to changelog partition p, in the transaction that commits the input's offsets and the outputs, so state,
 * outputs and offsets never disagree. A replica holds only the partitions it is assigned; when the assignment changes
 * it forgets what it held (another replica may have moved it on) and, at the first slice of an assigned partition,
 * restores every assigned partition it does not hold in one read of those changelog partitions (readPartitions: no
 * consumer group, ended by position, heartbeating the caller's group). More replicas therefore divide memory and
 * restore time.
 */
export class PartitionStore<S> {
  private readonly held = new Map<number, S>();
  private assigned = new Set<number>();
  private readonly restoreSeconds;
  private readonly restoredRecords;
  private readonly partitionsHeld;

  constructor(private readonly options: PartitionStoreOptions<S>) {
    const m = options.metrics;
    this.restoreSeconds = m.histogram(
      'burnrate_state_restore_seconds',
      'Time to restore assigned partitions of a state store from its changelog',
      ['store'] as const,
      [0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
    );
    this.restoredRecords = m.counter(
      'burnrate_state_restored_records_total',
      'Changelog records applied by restores',
      ['store'] as const,
    );
    m.startAtZero(this.restoredRecords, { store: [options.name] });
    this.partitionsHeld = m.gauge('burnrate_state_partitions', 'Partitions whose state this replica holds', [
      'store',
    ] as const);
  }

  /** Changelog partitions: at least as many as the input's (raised when the input was given more). */
  async matchPartitions(): Promise<void> {
    const { kafka, input, changelog, log } = this.options;
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [input.name, changelog.name] });
      const count = (name: string) => topics.find((t) => t.name === name)?.partitions.length ?? 0;
      const [want, have] = [count(input.name), count(changelog.name)];
      if (have < want) {
        await admin.createPartitions({ topicPartitions: [{ topic: changelog.name, count: want }] });
        log.info('changelog partitions raised to match the input', {
          changelog: changelog.name,
          from: have,
          to: want,
        });
      }
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * The group gave this replica `partitions` of the input. With eager rebalancing any partition may have been
   * another replica's in between, so every held state is forgotten, to be restored at its next slice.
   */
  assign(partitions: readonly number[]): void {
    this.assigned = new Set(partitions);
    this.releaseAll();
  }

  /** A slice of `partition` was not committed: its state is ahead of the changelog, so it is restored again. */
  drop(partition: number): void {
    const state = this.held.get(partition);
    if (state !== undefined) this.options.release?.(state, partition);
    this.held.delete(partition);
    this.partitionsHeld.set({ store: this.options.name }, this.held.size);
  }

  /**
   * The state of `partition`, restored first (with every other assigned partition not held yet) when it is not held.
   * `heartbeat` keeps the consuming member alive through a long restore.
   */
  async get(partition: number, heartbeat?: () => Promise<void>): Promise<S> {
    const existing = this.held.get(partition);
    if (existing !== undefined) return existing;
    const { name, kafka, changelog, create, restore, restored, release, log } = this.options;
    const wanted = [...new Set([...this.assigned, partition])].filter((p) => !this.held.has(p)).sort();
    const fresh = new Map(wanted.map((p) => [p, create(p)]));
    const started = process.hrtime.bigint();
    let records: number;
    try {
      records = await readPartitions(
        kafka,
        changelog.name,
        wanted,
        (p: number, m: KafkaMessage) => {
          const key = m.key?.toString();
          if (key) restore(fresh.get(p)!, key, m.value);
        },
        { heartbeat },
      );
      if (restored) for (const s of fresh.values()) restored(s);
    } catch (err) {
      if (release) for (const [p, s] of fresh) release(s, p);
      throw err;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.restoreSeconds.observe({ store: name }, seconds);
    this.restoredRecords.inc({ store: name }, records);
    for (const [p, s] of fresh) this.held.set(p, s);
    this.partitionsHeld.set({ store: name }, this.held.size);
    log.info('partitions restored from changelog', {
      store: name,
      partitions: wanted,
      records,
      ...this.options.describe?.([...fresh.values()]),
      seconds: Math.round(seconds * 1000) / 1000,
    });
    return this.held.get(partition)!;
  }

  /** A changelog record for the state of `partition` (to go out with the slice's outputs). */
  record(partition: number, key: string, value: string | Buffer | null): OutboundRecord {
    return {
      topic: this.options.changelog.name,
      key,
      value: value === null ? null : typeof value === 'string' ? Buffer.from(value) : value,
      partition,
    };
  }

  /** Forgets every partition (shutdown, or a new assignment). */
  releaseAll(): void {
    for (const p of [...this.held.keys()]) this.drop(p);
    this.partitionsHeld.set({ store: this.options.name }, 0);
  }
}

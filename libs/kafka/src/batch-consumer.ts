import {
  CompressionTypes,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type Kafka,
  type KafkaMessage,
  type Producer,
} from 'kafkajs';
import { hostname } from 'node:os';
import { Topics, type TopicSpec } from '@libs/contracts';
import type { JsonLogger, Metrics } from '@libs/observability';
import { AvroSerde, SerdeError } from './avro-serde';
import { backoffMs, errorMessage, isTransient } from './failure';
import { KeyedPartitioner } from './partitioner';
import { BatchProducer, DEFAULT_MAX_SEND_BYTES, sendInRequests, type OutboundRecord } from './batch-producer';

export interface ConsumedRecord<T> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: T;
  /** The record's value as it was on the topic (wire format). */
  raw: Buffer | null;
  headers: IHeaders;
  /** Kafka record timestamp, epoch ms. */
  timestamp: number;
  /**
   * A control record's kind (its CONTROL_HEADER): not data, no value to decode. Handed only to a consumer that asked
   * for them (`controlRecords`); every other consumer of the topic passes over them.
   */
  control?: string;
}

/**
 * The header that makes a record without a value a control record: a service's signal to the consumers of its own input partitions
 * (the aggregator's "settings changed, look again"), carried in the partition so it is handled in order, by the
 * partition's owner, in its transaction.
 */
export const CONTROL_HEADER = 'burnrate-control';

export interface DeadLetter {
  record: Pick<ConsumedRecord<unknown>, 'topic' | 'partition' | 'offset' | 'key' | 'raw' | 'headers'>;
  reason: string;
}

export interface BatchResult {
  outputs?: OutboundRecord[];
  deadLetters?: DeadLetter[];
}

export interface BatchContext {
  topic: string;
  partition: number;
  /** Call during long processing so the group does not evict this member. */
  heartbeat(): Promise<void>;
  /** True when a rebalance made this batch stale: stop early, its records will be redelivered. */
  isStale(): boolean;
}

export type BatchHandler<T> = (
  records: ConsumedRecord<T>[],
  ctx: BatchContext,
) => Promise<BatchResult | void>;

export interface BatchConsumerOptions<T> {
  groupId: string;
  topics: readonly TopicSpec[];
  handler: BatchHandler<T>;
  /**
   * Kafka->Kafka: outputs, dead letters and the consumed offsets are committed in one Kafka transaction, so a crash
   * neither loses nor duplicates an output (downstream consumers read committed). Otherwise outputs are produced
   * (acks=all) and then the offsets are committed: at-least-once, so handlers that write elsewhere must be idempotent.
   */
  transactional?: boolean;
  /** Stable per replica (pod name); defaults to `<groupId>-<hostname>-<pid>`. */
  transactionalId?: string;
  /** Where a new group starts: the earliest record (default) or only new ones. */
  fromBeginning?: boolean;
  maxBytesPerPartition?: number;
  /** A fetch waits for this many bytes, or maxWaitTimeMs, whichever comes first. */
  minBytes?: number;
  maxWaitTimeMs?: number;
  sessionTimeoutMs?: number;
  partitionsConsumedConcurrently?: number;
  /** Most records handled and committed together (one transaction); default 4000. */
  maxRecordsPerCommit?: number;
  /** Hand control records (CONTROL_HEADER) to the handler, `control` set and no value; otherwise they are passed over. */
  controlRecords?: boolean;
  /**
   * Called when a handler ran but its slice was not committed (the partition moved, or the commit failed): a handler
   * that keeps state in memory must forget what that slice did, because the records will be handed over again.
   */
  onUncommitted?: (topic: string, partition: number) => void;
  /**
   * Compression of the outputs; none by default (KAFKA_COMPRESSION): kafkajs has only gzip built in, and on the
   * end-to-end benchmark its CPU cost more throughput than the smaller batches gave back. Turn it on where the network or
   * the brokers' disks are the limit.
   */
  compression?: CompressionTypes;
  /** Most bytes of records per produce request within a transaction; default DEFAULT_MAX_SEND_BYTES. */
  maxSendBytes?: number;
  /** Called with topic -> partitions after every (re)join, before records of new partitions are handed over. */
  onAssignment?: (assignment: Record<string, number[]>) => Promise<void> | void;
  /** A record that fails on its own this many times is dead-lettered (KAFKA_RECORD_MAX_ATTEMPTS, default 3). */
  maxRecordAttempts?: number;
  /** Longest wait between retries while a dependency is down (KAFKA_RETRY_MAX_BACKOFF_MS, default 30 s). */
  maxBackoffMs?: number;
  /** How often lag is measured from committed offsets (KAFKA_LAG_INTERVAL_MS, default 15 s); 0 turns it off. */
  lagIntervalMs?: number;
  /** Liveness fails when a partition with lag has not progressed for this long (KAFKA_STALL_LIVENESS_S; 0: never). */
  stallLivenessS?: number;
}

/** burnrate_consumer_retries_total's `reason`: a dependency is down, or a failing record is being isolated. */
const RETRY_REASONS = ['dependency', 'record'] as const;

export const DLQ_HEADERS = {
  reason: 'burnrate-dlq-reason',
  topic: 'burnrate-dlq-source-topic',
  partition: 'burnrate-dlq-source-partition',
  offset: 'burnrate-dlq-source-offset',
  at: 'burnrate-dlq-at',
} as const;

export function deadLetterRecord(dl: DeadLetter): OutboundRecord {
  return {
    topic: Topics.deadLetter.name,
    key: dl.record.key,
    value: dl.record.raw,
    headers: {
      ...dl.record.headers,
      [DLQ_HEADERS.reason]: dl.reason.slice(0, 4000),
      [DLQ_HEADERS.topic]: dl.record.topic,
      [DLQ_HEADERS.partition]: String(dl.record.partition),
      [DLQ_HEADERS.offset]: dl.record.offset,
      [DLQ_HEADERS.at]: new Date().toISOString(),
    },
  };
}

/**
 * The hot-path consumer loop (OpenMeter's sink-worker shape): read a batch, decode it, hand it to the handler, make
 * its outputs durable, then commit the offsets — never before. A record that cannot be decoded goes to the
 * dead-letter topic with the reason and its source coordinates, and is committed with the batch.
 *
 * Failure isolation: when the handler throws, the error is classified (failure.ts). A dependency that is down
 * (Kafka, PostgreSQL, the registry unreachable) holds the partition where it is — the same records are retried with
 * exponential backoff, heartbeating, until it is back; nothing is dead-lettered for it. Any other error is taken as
 * the records': the slice is split in halves, each half committed as soon as it succeeds, down to the one record that
 * fails alone; that record is retried up to maxRecordAttempts times and then dead-lettered with the reason, and the
 * partition moves on. One tenant's bad record costs that record, not the partition.
 *
 * Health: lag is measured on a timer from the group's committed offsets against the high watermark (so it stays true
 * while a partition is stuck), with the seconds since a lagging partition last progressed; liveness fails when the
 * kafkajs consumer has crashed for good or a partition has been stuck past stallLivenessS.
 */
export class BatchConsumer<T> {
  readonly consumer: Consumer;
  private txProducer: Producer | undefined;
  private plainProducer: BatchProducer | undefined;
  private admin: Admin | undefined;
  private running = false;
  private crashed: string | null = null;
  private lagTimer: NodeJS.Timeout | undefined;
  /** Partitions this member owns, "topic\u0000partition" -> last progress (commit, or records skipped), epoch ms. */
  private readonly progress = new Map<string, number>();
  /** Offsets past control records and aborted transactions, which commit nothing but are not lag. */
  private readonly skippedTo = new Map<string, bigint>();
  private readonly stalledFor = new Map<string, { seconds: number; lag: number }>();
  private readonly byTopic: Map<string, TopicSpec>;
  private readonly log: JsonLogger;
  private readonly records;
  private readonly deadLetters;
  private readonly batchDuration;
  private readonly lag;
  private readonly stalled;
  private readonly retries;

  constructor(
    private readonly kafka: Kafka,
    private readonly serde: AvroSerde | null,
    private readonly options: BatchConsumerOptions<T>,
    logger: JsonLogger,
    metrics: Metrics,
  ) {
    this.byTopic = new Map(options.topics.map((t) => [t.name, t]));
    this.log = logger.child({ component: 'consumer', group: options.groupId });
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30000,
      heartbeatInterval: 3000,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
      minBytes: options.minBytes ?? 1,
      maxWaitTimeInMs: options.maxWaitTimeMs ?? 100,
      allowAutoTopicCreation: false,
      readUncommitted: false,
    });
    this.records = metrics.counter('burnrate_consumer_records_total', 'Records consumed', [
      'topic',
      'group',
    ] as const);
    this.deadLetters = metrics.counter(
      'burnrate_dead_letter_records_total',
      'Records sent to the dead-letter topic',
      ['source_topic', 'group'] as const,
    );
    this.batchDuration = metrics.histogram(
      'burnrate_batch_duration_seconds',
      'Time to process and commit one batch',
      ['group', 'topic'] as const,
    );
    this.lag = metrics.gauge(
      'burnrate_kafka_consumer_lag',
      "Records between the group's committed offset and the high watermark, per partition this member owns",
      ['topic', 'partition', 'group'] as const,
    );
    this.stalled = metrics.gauge(
      'burnrate_kafka_partition_stalled_seconds',
      'Seconds since a partition with lag last committed (0 when it has none)',
      ['topic', 'partition', 'group'] as const,
    );
    this.retries = metrics.counter(
      'burnrate_consumer_retries_total',
      'Slices retried: reason "dependency" (a dependency down, with backoff) or "record" (isolating a failing record)',
      ['topic', 'group', 'reason'] as const,
    );
    // Every series from 0, so increase() sees this member's first dead letter (BurnrateDeadLettersGrowing) or retry.
    const topics = options.topics.map((t) => t.name);
    const group = [options.groupId];
    metrics.startAtZero(this.records, { topic: topics, group });
    metrics.startAtZero(this.deadLetters, { source_topic: topics, group });
    metrics.startAtZero(this.retries, { topic: topics, group, reason: RETRY_REASONS });
  }

  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    const { options } = this;
    if (options.transactional) {
      this.txProducer = await this.connectTxProducer();
    } else {
      this.plainProducer = new BatchProducer(this.kafka, { lingerMs: 0 });
      await this.plainProducer.connect();
    }
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      this.onJoin(event.payload.memberAssignment);
      if (options.onAssignment)
        void Promise.resolve(options.onAssignment(event.payload.memberAssignment)).catch((err: unknown) =>
          this.log.error('assignment callback failed', { err }),
        );
    });
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, (event) => {
      // kafkajs hands no records over for a batch of only control records or aborted transactions, and with manual
      // commits nothing is committed for it: remember how far it reached so it is not taken for lag.
      const { topic, partition, batchSize, lastOffset } = event.payload;
      if (batchSize === 0) this.skipped(topic, partition, lastOffset);
    });
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      this.log.error('consumer crashed', { err: errorMessage(error), restart });
      if (!restart) this.crashed = errorMessage(error);
    });
    await this.consumer.connect();
    for (const topic of options.topics) {
      await this.consumer.subscribe({ topic: topic.name, fromBeginning: options.fromBeginning ?? true });
    }
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: options.transactional
        ? 1
        : (options.partitionsConsumedConcurrently ?? 1),
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.running = true;
    const interval = options.lagIntervalMs ?? 15000;
    if (interval > 0) {
      this.admin = this.kafka.admin();
      await this.admin.connect();
      this.lagTimer = setInterval(
        () =>
          void this.measureLag().catch((err: unknown) =>
            this.log.warn('lag measurement failed', { err: errorMessage(err) }),
          ),
        interval,
      );
      this.lagTimer.unref();
    }
    this.log.info('consuming', {
      topics: options.topics.map((t) => t.name),
      transactional: !!options.transactional,
    });
  }

  /** Null while alive; otherwise why Kubernetes should restart this process. */
  liveness(): string | null {
    if (this.crashed !== null) return `consumer ${this.options.groupId} crashed: ${this.crashed}`;
    const limit = this.options.stallLivenessS ?? 300;
    if (limit <= 0) return null;
    for (const [k, { seconds, lag }] of this.stalledFor) {
      if (seconds > limit) {
        const [topic, partition] = k.split('\u0000');
        return `${topic} partition ${partition} has not progressed for ${Math.round(seconds)} s with ${lag} records of lag (limit ${limit} s)`;
      }
    }
    return null;
  }

  /** Lag and stall of every partition this member owns, from the committed offsets and the high watermarks. */
  async measureLag(): Promise<void> {
    if (!this.admin || this.progress.size === 0) return;
    const group = this.options.groupId;
    const topics = [...new Set([...this.progress.keys()].map((k) => k.split('\u0000')[0]))];
    const committed = await this.admin.fetchOffsets({ groupId: group, topics });
    const now = Date.now();
    for (const topic of topics) {
      const ends = await this.admin.fetchTopicOffsets(topic);
      const done = new Map(
        committed.find((c) => c.topic === topic)?.partitions.map((p) => [p.partition, p.offset]) ?? [],
      );
      for (const end of ends) {
        const k = tpKey(topic, end.partition);
        const since = this.progress.get(k);
        if (since === undefined) continue;
        const c = done.get(end.partition);
        let from = c !== undefined && c !== '-1' ? BigInt(c) : BigInt(end.low);
        const skipped = this.skippedTo.get(k);
        if (skipped !== undefined && skipped > from) from = skipped;
        const lag = Number(BigInt(end.high) > from ? BigInt(end.high) - from : 0n);
        const seconds = lag > 0 ? (now - since) / 1000 : 0;
        const labels = { topic, partition: String(end.partition), group };
        this.lag.set(labels, lag);
        this.stalled.set(labels, seconds);
        this.stalledFor.set(k, { seconds, lag });
      }
    }
  }

  private onJoin(assignment: Record<string, number[]>): void {
    const owned = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment))
      for (const p of partitions) owned.add(tpKey(topic, p));
    const now = Date.now();
    for (const k of [...this.progress.keys()]) {
      if (owned.has(k)) continue;
      this.progress.delete(k);
      this.skippedTo.delete(k);
      this.stalledFor.delete(k);
      const [topic, partition] = k.split('\u0000');
      const labels = { topic, partition, group: this.options.groupId };
      this.lag.remove(labels);
      this.stalled.remove(labels);
    }
    for (const k of owned) if (!this.progress.has(k)) this.progress.set(k, now);
  }

  private async onBatch({ batch, heartbeat, isStale, isRunning }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    // A fetch can hold megabytes of records; handling it in slices bounds each transaction's size (the broker refuses
    // record batches over message.max.bytes, 1 MB by default) and the work redone after a crash.
    const size = this.options.maxRecordsPerCommit ?? 4000;
    const live = () => isRunning() && !isStale();
    for (let from = 0; from < batch.messages.length; from += size) {
      if (!live()) return;
      const slice = await this.decodeSlice(
        batch.topic,
        batch.partition,
        batch.messages.slice(from, from + size),
        heartbeat,
        live,
      );
      if (!slice || !(await this.handleRange(slice, 0, slice.messages.length, heartbeat, live))) return;
      await heartbeat();
    }
    // A transaction's commit marker after the last record is consumed with it but never committed (the offset committed
    // is the record's + 1): it is not lag.
    this.skipped(batch.topic, batch.partition, batch.lastOffset());
  }

  private skipped(topic: string, partition: number, lastOffset: string): void {
    const k = tpKey(topic, partition);
    const next = BigInt(lastOffset) + 1n;
    if (next > (this.skippedTo.get(k) ?? -1n)) {
      this.skippedTo.set(k, next);
      if (this.progress.has(k)) this.progress.set(k, Date.now());
    }
  }

  /** Decodes a slice; waits out a registry that is down (decoding needs it for schemas not yet seen). */
  private async decodeSlice(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    heartbeat: () => Promise<void>,
    live: () => boolean,
  ): Promise<Slice<T> | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        return { topic, partition, messages, ...(await this.decode(topic, partition, messages)) };
      } catch (err) {
        if (!(await this.waitOut(topic, err, attempt, heartbeat, live))) return null;
      }
    }
  }

  /**
   * Handles and commits messages [lo, hi) of the slice. Returns false when the partition was taken away or the
   * consumer is stopping (nothing more is committed; the records are handed over again).
   */
  private async handleRange(
    slice: Slice<T>,
    lo: number,
    hi: number,
    heartbeat: () => Promise<void>,
    live: () => boolean,
  ): Promise<boolean> {
    const { topic, partition, messages } = slice;
    const records = slice.records.filter((r) => r.index >= lo && r.index < hi).map((r) => r.record);
    const undecodable = slice.deadLetters.filter((d) => d.index >= lo && d.index < hi).map((d) => d.dead);
    const maxAttempts = this.options.maxRecordAttempts ?? 3;
    let failures = 0;
    let waits = 0;
    for (;;) {
      if (!live()) return false;
      const started = process.hrtime.bigint();
      let result: BatchResult;
      try {
        result =
          records.length > 0
            ? ((await this.options.handler(records, {
                topic,
                partition,
                heartbeat,
                isStale: () => !live(),
              })) ?? {})
            : {};
      } catch (err) {
        if (records.length > 0) this.options.onUncommitted?.(topic, partition);
        if (isTransient(err)) {
          if (!(await this.waitOut(topic, err, ++waits, heartbeat, live))) return false;
          continue;
        }
        if (hi - lo > 1) {
          this.retries.inc({ topic, group: this.options.groupId, reason: 'record' });
          this.log.warn('slice failed; retrying it in halves to isolate the record', {
            topic,
            partition,
            first: messages[lo].offset,
            records: hi - lo,
            err: errorMessage(err),
          });
          const mid = lo + Math.ceil((hi - lo) / 2);
          return (
            (await this.handleRange(slice, lo, mid, heartbeat, live)) &&
            this.handleRange(slice, mid, hi, heartbeat, live)
          );
        }
        if (++failures < maxAttempts) {
          this.retries.inc({ topic, group: this.options.groupId, reason: 'record' });
          continue;
        }
        result = {
          deadLetters: records.map((record) => ({
            record,
            reason: `failed ${failures} times: ${errorMessage(err)}`,
          })),
        };
      }
      if (!live()) {
        // partition moved: no commit, the new owner redoes it
        if (records.length > 0) this.options.onUncommitted?.(topic, partition);
        return false;
      }
      const deadLetters = [...undecodable, ...(result.deadLetters ?? [])];
      const outputs = [...(result.outputs ?? []), ...deadLetters.map(deadLetterRecord)];
      const nextOffset = (BigInt(messages[hi - 1].offset) + 1n).toString();
      try {
        await this.commit(topic, partition, nextOffset, outputs);
      } catch (err) {
        if (records.length > 0) this.options.onUncommitted?.(topic, partition);
        throw err;
      }
      const k = tpKey(topic, partition);
      if (this.progress.has(k)) this.progress.set(k, Date.now());
      for (const dl of deadLetters) {
        this.deadLetters.inc({ source_topic: topic, group: this.options.groupId });
        this.log.warn('record sent to dead-letter topic', {
          reason: dl.reason,
          topic: dl.record.topic,
          partition: dl.record.partition,
          offset: dl.record.offset,
        });
      }
      this.records.inc({ topic, group: this.options.groupId }, hi - lo);
      this.batchDuration.observe(
        { group: this.options.groupId, topic },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
      return true;
    }
  }

  /** Backoff while a dependency is down, heartbeating; false when the partition should be given up instead. */
  private async waitOut(
    topic: string,
    err: unknown,
    attempt: number,
    heartbeat: () => Promise<void>,
    live: () => boolean,
  ): Promise<boolean> {
    const delay = backoffMs(attempt, this.options.maxBackoffMs ?? 30000);
    this.retries.inc({ topic, group: this.options.groupId, reason: 'dependency' });
    this.log.warn('dependency unavailable; partition holds its place and retries', {
      topic,
      attempt,
      retry_in_ms: delay,
      err: errorMessage(err),
    });
    const until = Date.now() + delay;
    while (Date.now() < until) {
      if (!live()) return false;
      await new Promise((r) => setTimeout(r, Math.min(1000, until - Date.now())));
      await heartbeat();
    }
    return live();
  }

  private async decode(topic: string, partition: number, messages: KafkaMessage[]) {
    const spec = this.byTopic.get(topic);
    const records: { index: number; record: ConsumedRecord<T> }[] = [];
    const deadLetters: { index: number; dead: DeadLetter }[] = [];
    const decoded =
      spec?.valueSchema && this.serde
        ? await this.serde.decodeMany<T>(
            spec,
            messages.map((m) => m.value),
          )
        : messages.map((m) => m.value as unknown as T);
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      const value = decoded[i];
      const key = m.key ? m.key.toString() : null;
      const headers = m.headers ?? {};
      // A control record has the header and no value. A record with a value is data whatever its headers say: a
      // producer's run that carries the header (runs.raw is open to tenants' producers) is priced or dead-lettered as
      // any other, never passed over unseen.
      const control = m.value === null || m.value.length === 0 ? headers[CONTROL_HEADER] : undefined;
      const record: ConsumedRecord<T> = {
        topic,
        partition,
        offset: m.offset,
        key,
        value: value instanceof SerdeError ? (undefined as T) : value,
        raw: m.value,
        headers,
        timestamp: Number(m.timestamp),
      };
      if (control !== undefined) {
        if (this.options.controlRecords)
          records.push({ index: i, record: { ...record, control: String(control) } });
      } else if (value instanceof SerdeError)
        deadLetters.push({ index: i, dead: { record, reason: `undecodable: ${value.message}` } });
      else records.push({ index: i, record });
    }
    return { records, deadLetters };
  }

  private async connectTxProducer(): Promise<Producer> {
    const { options } = this;
    const producer = this.kafka.producer({
      transactionalId: options.transactionalId ?? `${options.groupId}-${hostname()}-${process.pid}`,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 15000,
      allowAutoTopicCreation: false,
      createPartitioner: KeyedPartitioner,
    });
    await producer.connect();
    return producer;
  }

  private async commit(
    topic: string,
    partition: number,
    offset: string,
    outputs: OutboundRecord[],
  ): Promise<void> {
    if (this.options.transactional) {
      this.txProducer ??= await this.connectTxProducer();
      const producer = this.txProducer;
      const tx = await producer.transaction();
      try {
        await sendInRequests(tx, outputs, {
          compression: this.options.compression ?? CompressionTypes.None,
          maxBytes: this.options.maxSendBytes ?? DEFAULT_MAX_SEND_BYTES,
        });
        await tx.sendOffsets({
          consumerGroupId: this.options.groupId,
          topics: [{ topic, partitions: [{ partition, offset }] }],
        });
        await tx.commit();
      } catch (err) {
        // Whatever state the transaction was left in (an abort can fail too, leaving it open on the broker with this
        // attempt's records, to be committed with the retry's), a new producer with the same transactional id
        // fences it: initialising it aborts any transaction still open, so the retry starts clean and nothing it
        // retries is committed twice.
        await tx.abort().catch(() => undefined);
        if (this.txProducer === producer) this.txProducer = undefined;
        await producer.disconnect().catch(() => undefined);
        throw err;
      }
      return;
    }
    await this.plainProducer!.send(outputs);
    await this.consumer.commitOffsets([{ topic, partition, offset }]);
  }

  /** Stops fetching, lets the in-flight batch finish and commit, then disconnects. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.lagTimer) clearInterval(this.lagTimer);
    await this.consumer.disconnect();
    await this.txProducer?.disconnect();
    await this.plainProducer?.disconnect();
    await this.admin?.disconnect().catch(() => undefined);
    this.log.info('stopped');
  }
}

interface Slice<T> {
  topic: string;
  partition: number;
  messages: KafkaMessage[];
  records: { index: number; record: ConsumedRecord<T> }[];
  deadLetters: { index: number; dead: DeadLetter }[];
}

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

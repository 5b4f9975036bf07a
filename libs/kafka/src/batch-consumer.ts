import {
  CompressionTypes,
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
}

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
}

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
 * its outputs durable, then commit the offsets — never before. A record that cannot be decoded or that the handler
 * rejects goes to the dead-letter topic with the reason and its source coordinates, and is committed with the batch:
 * one bad record never blocks a partition, and nothing is silently dropped.
 */
export class BatchConsumer<T> {
  readonly consumer: Consumer;
  private txProducer: Producer | undefined;
  private plainProducer: BatchProducer | undefined;
  private running = false;
  private readonly byTopic: Map<string, TopicSpec>;
  private readonly log: JsonLogger;
  private readonly records;
  private readonly deadLetters;
  private readonly batchDuration;
  private readonly lag;

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
    this.lag = metrics.gauge('burnrate_kafka_consumer_lag', 'Records behind the high watermark', [
      'topic',
      'partition',
      'group',
    ] as const);
  }

  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    const { options } = this;
    if (options.transactional) {
      this.txProducer = this.kafka.producer({
        transactionalId: options.transactionalId ?? `${options.groupId}-${hostname()}-${process.pid}`,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: 15000,
        allowAutoTopicCreation: false,
        createPartitioner: KeyedPartitioner,
      });
      await this.txProducer.connect();
    } else {
      this.plainProducer = new BatchProducer(this.kafka, { lingerMs: 0 });
      await this.plainProducer.connect();
    }
    if (options.onAssignment) {
      this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
        void Promise.resolve(options.onAssignment?.(event.payload.memberAssignment)).catch((err: unknown) =>
          this.log.error('assignment callback failed', { err }),
        );
      });
    }
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
    this.log.info('consuming', {
      topics: options.topics.map((t) => t.name),
      transactional: !!options.transactional,
    });
  }

  private async onBatch({ batch, heartbeat, isStale, isRunning }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    // A fetch can hold megabytes of records; handling it in slices bounds each transaction's size (the broker refuses
    // record batches over message.max.bytes, 1 MB by default) and the work redone after a crash.
    const size = this.options.maxRecordsPerCommit ?? 4000;
    for (let from = 0; from < batch.messages.length; from += size) {
      if (!isRunning() || isStale()) return;
      await this.onSlice(
        batch.topic,
        batch.partition,
        batch.messages.slice(from, from + size),
        heartbeat,
        isStale,
      );
      await heartbeat();
    }
    this.lag.set(
      { topic: batch.topic, partition: String(batch.partition), group: this.options.groupId },
      Number(batch.offsetLag()),
    );
  }

  private async onSlice(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    heartbeat: () => Promise<void>,
    isStale: () => boolean,
  ): Promise<void> {
    const started = process.hrtime.bigint();
    this.log.debug('batch', { topic, partition, records: messages.length, first: messages[0].offset });
    const { records, deadLetters } = await this.decode(this.byTopic.get(topic), topic, partition, messages);
    let result: BatchResult = {};
    try {
      if (records.length > 0)
        result = (await this.options.handler(records, { topic, partition, heartbeat, isStale })) ?? {};
    } catch (err) {
      this.options.onUncommitted?.(topic, partition);
      throw err;
    }
    if (isStale()) {
      // partition moved: no commit, the new owner redoes it
      if (records.length > 0) this.options.onUncommitted?.(topic, partition);
      return;
    }
    const allDeadLetters = [...deadLetters, ...(result.deadLetters ?? [])];
    const outputs = [...(result.outputs ?? []), ...allDeadLetters.map(deadLetterRecord)];
    const nextOffset = (BigInt(messages[messages.length - 1].offset) + 1n).toString();
    try {
      await this.commit(topic, partition, nextOffset, outputs);
    } catch (err) {
      if (records.length > 0) this.options.onUncommitted?.(topic, partition);
      throw err;
    }

    for (const dl of allDeadLetters) {
      this.deadLetters.inc({ source_topic: topic, group: this.options.groupId });
      this.log.warn('record sent to dead-letter topic', {
        reason: dl.reason,
        topic: dl.record.topic,
        partition: dl.record.partition,
        offset: dl.record.offset,
      });
    }
    this.records.inc({ topic, group: this.options.groupId }, messages.length);
    this.batchDuration.observe(
      { group: this.options.groupId, topic },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
  }

  private async decode(
    spec: TopicSpec | undefined,
    topic: string,
    partition: number,
    messages: KafkaMessage[],
  ) {
    const records: ConsumedRecord<T>[] = [];
    const deadLetters: DeadLetter[] = [];
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
      if (value instanceof SerdeError)
        deadLetters.push({
          record: { topic, partition, offset: m.offset, key, raw: m.value, headers },
          reason: `undecodable: ${value.message}`,
        });
      else
        records.push({
          topic,
          partition,
          offset: m.offset,
          key,
          value,
          raw: m.value,
          headers,
          timestamp: Number(m.timestamp),
        });
    }
    return { records, deadLetters };
  }

  private async commit(
    topic: string,
    partition: number,
    offset: string,
    outputs: OutboundRecord[],
  ): Promise<void> {
    if (this.txProducer) {
      const tx = await this.txProducer.transaction();
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
        await tx.abort().catch(() => undefined);
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
    await this.consumer.disconnect();
    await this.txProducer?.disconnect();
    await this.plainProducer?.disconnect();
    this.log.info('stopped');
  }
}

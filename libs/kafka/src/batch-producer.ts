import type { IHeaders, Kafka, Message, Producer, ProducerBatch } from 'kafkajs';
import { CompressionTypes } from 'kafkajs';
import { KeyedPartitioner } from './partitioner';

export interface OutboundRecord {
  topic: string;
  key: string | Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
  partition?: number;
}

export interface BatchProducerOptions {
  /** Longest a record waits for companions before the batch is sent. */
  lingerMs?: number;
  /** A batch is sent as soon as it holds this many records. */
  maxBatchRecords?: number;
  compression?: CompressionTypes;
  /** Most bytes of records per produce request; default DEFAULT_MAX_SEND_BYTES. */
  maxRequestBytes?: number;
}

/**
 * The most bytes of records one produce request carries. A broker refuses a record batch (all of one request's records
 * for one partition) over `message.max.bytes`, 1 MiB by default; under that whatever the keys' spread, so any number of
 * records is sent, in as many requests as it needs.
 */
export const DEFAULT_MAX_SEND_BYTES = 768 * 1024;

/** Splits records, in order, into runs of at most `maxBytes` (a record larger than that is sent alone). */
export function bySize(records: readonly OutboundRecord[], maxBytes: number): OutboundRecord[][] {
  const chunks: OutboundRecord[][] = [];
  let chunk: OutboundRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    let size = 70 + (r.value?.length ?? 0) + (r.key?.length ?? 0); // a record's framing is under 70 bytes
    for (const [k, v] of Object.entries(r.headers ?? {})) size += k.length + String(v ?? '').length + 10;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(r);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * Sends records, in order, in as many produce requests as their size needs (see bySize), each grouped by topic; all
 * or, on the first failure, the error. `sender` is a producer or a transaction.
 */
export async function sendInRequests(
  sender: { sendBatch(batch: ProducerBatch): Promise<unknown> },
  records: readonly OutboundRecord[],
  options: { compression: CompressionTypes; maxBytes: number },
): Promise<void> {
  for (const chunk of bySize(records, options.maxBytes)) {
    const byTopic = new Map<string, Message[]>();
    for (const { topic, key, value, headers, partition } of chunk) {
      let messages = byTopic.get(topic);
      if (!messages) byTopic.set(topic, (messages = []));
      messages.push({ key, value, headers, partition });
    }
    await sender.sendBatch({
      acks: -1,
      compression: options.compression,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
  }
}

interface Pending {
  records: OutboundRecord[];
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * kafkajs sends one request per send() call; under many concurrent callers (an HTTP endpoint) that is one round trip
 * per caller. This producer gathers the records of concurrent calls for up to `lingerMs` (or `maxBatchRecords`) into
 * one sendBatch with acks=all on an idempotent producer; each caller's promise settles when its records are
 * acknowledged (or with the error that failed them).
 */
export class BatchProducer {
  private readonly producer: Producer;
  private queue: Pending[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private connected = false;
  private readonly lingerMs: number;
  private readonly maxBatchRecords: number;
  private readonly compression: CompressionTypes;
  private readonly maxRequestBytes: number;

  constructor(kafka: Kafka, options: BatchProducerOptions = {}) {
    // Java-compatible murmur2 partitioning, so producers in other languages put an agent's runs in the same partition.
    // Retries are unbounded (an idempotent producer must not give up mid-sequence); callers bound their own wait.
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 5,
      allowAutoTopicCreation: false,
      createPartitioner: KeyedPartitioner,
      retry: { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 5000 },
    });
    this.lingerMs = options.lingerMs ?? 5;
    this.maxBatchRecords = options.maxBatchRecords ?? 5000;
    this.compression = options.compression ?? CompressionTypes.None;
    this.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_SEND_BYTES;
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.producer.connect();
    this.connected = true;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  send(records: OutboundRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      this.queued += records.length;
      if (this.queued >= this.maxBatchRecords) this.flushNow();
      else this.timer ??= setTimeout(() => this.flushNow(), this.lingerMs);
    });
  }

  private flushNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    this.queued = 0;
    if (batch.length === 0) return;
    void this.sendBatch(batch);
  }

  private async sendBatch(batch: Pending[]): Promise<void> {
    try {
      // A broker refuses a record batch over message.max.bytes: large batches go in several requests, in order.
      await sendInRequests(
        this.producer,
        batch.flatMap((p) => p.records),
        { compression: this.compression, maxBytes: this.maxRequestBytes },
      );
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
    }
  }

  /** Sends whatever is queued and waits for it. */
  async flush(): Promise<void> {
    const pending = this.queue.map(
      (p) =>
        new Promise<void>((resolve) => {
          const { resolve: ok, reject } = p;
          p.resolve = () => (ok(), resolve());
          p.reject = (e) => (reject(e), resolve());
        }),
    );
    this.flushNow();
    await Promise.all(pending);
  }

  async disconnect(): Promise<void> {
    await this.flush();
    if (this.connected) await this.producer.disconnect();
    this.connected = false;
  }
}

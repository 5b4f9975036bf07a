import { Inject, Injectable, type BeforeApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { CompressionTypes, type Admin, type Kafka } from 'kafkajs';
import { CONFIG, type CommonConfig } from '@libs/config';
import { Topics, type TopicSpec } from '@libs/contracts';
import { Health, JsonLogger, Metrics, withTimeout } from '@libs/observability';
import { AvroSerde } from './avro-serde';
import { BatchConsumer, type BatchConsumerOptions } from './batch-consumer';
import { BatchProducer } from './batch-producer';
import { requestText } from './http-request';
import { createKafka } from './kafka-client';
import { provisionTopics } from './topics';

export const KAFKA_MODULE_OPTIONS = Symbol.for('burnrate.kafka.options');

export interface KafkaModuleOptions {
  /** Suffix of the Kafka client id (the service name). */
  clientId: string;
  /** Topics this service reads or writes: provisioned if missing and their schemas registered at start-up. */
  topics: readonly TopicSpec[];
  /** Connect the shared BatchProducer (services that only consume may skip it). */
  producer?: boolean;
}

/**
 * The Kafka side of a service: client, Avro serde (schemas registered once), a batching producer and the consumers it
 * creates. On shutdown consumers stop first (finishing and committing their in-flight batch), then the producer flushes.
 */
@Injectable()
export class KafkaService implements OnModuleInit, BeforeApplicationShutdown {
  readonly kafka: Kafka;
  readonly producer: BatchProducer;
  private serdeInstance: AvroSerde | undefined;
  private readonly admin: Admin;
  private readonly consumers: BatchConsumer<unknown>[] = [];
  private readonly log: JsonLogger;

  constructor(
    @Inject(CONFIG) private readonly config: CommonConfig,
    @Inject(KAFKA_MODULE_OPTIONS) private readonly options: KafkaModuleOptions,
    private readonly logger: JsonLogger,
    private readonly metrics: Metrics,
    private readonly health: Health,
  ) {
    this.log = logger.child({ component: 'kafka' });
    this.kafka = createKafka(config, options.clientId, this.log);
    this.admin = this.kafka.admin();
    this.producer = new BatchProducer(this.kafka);
    health.register('kafka', async () => {
      await this.admin.describeCluster();
    });
    health.register('schema-registry', async () => {
      if (!this.serdeInstance) throw new Error('schemas not registered yet');
      const res = await requestText(`${config.SCHEMA_REGISTRY_URL}/subjects`, {
        ca: config.SCHEMA_REGISTRY_CA_FILE?.pem,
        timeoutMs: 2000,
      });
      if (res.status < 200 || res.status > 299) throw new Error(`registry answered ${res.status}`);
    });
  }

  get serde(): AvroSerde {
    if (!this.serdeInstance) throw new Error('KafkaService is not initialised yet');
    return this.serdeInstance;
  }

  async onModuleInit(): Promise<void> {
    await this.admin.connect();
    const topics = [...this.options.topics, Topics.deadLetter];
    const created = await provisionTopics(this.admin, this.config, topics);
    if (created.length > 0) this.log.info('created topics', { topics: created });
    this.serdeInstance = await retry(
      () => AvroSerde.create(this.config, this.options.topics),
      30,
      (err, attempt) =>
        this.log.warn('schema registry not ready; retrying', { attempt, err: (err as Error).message }),
    );
    if (this.options.producer !== false) await this.producer.connect();
  }

  /** A consumer whose lifetime the service owns; call `start()` on it when the service is ready to consume. */
  createConsumer<T>(options: BatchConsumerOptions<T>): BatchConsumer<T> {
    const consumer = new BatchConsumer<T>(
      this.kafka,
      this.serdeInstance ?? null,
      {
        sessionTimeoutMs: this.config.KAFKA_SESSION_TIMEOUT_MS,
        minBytes: this.config.KAFKA_FETCH_MIN_BYTES,
        maxWaitTimeMs: this.config.KAFKA_FETCH_MAX_WAIT_MS,
        compression: this.config.KAFKA_COMPRESSION === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        maxRecordAttempts: this.config.KAFKA_RECORD_MAX_ATTEMPTS,
        maxBackoffMs: this.config.KAFKA_RETRY_MAX_BACKOFF_MS,
        lagIntervalMs: this.config.KAFKA_LAG_INTERVAL_MS,
        stallLivenessS: this.config.KAFKA_STALL_LIVENESS_S,
        ...options,
      },
      this.logger,
      this.metrics,
    );
    this.consumers.push(consumer as BatchConsumer<unknown>);
    this.health.registerLiveness(`consumer ${options.groupId}`, () => consumer.liveness());
    return consumer;
  }

  /** Before any onApplicationShutdown (the database pool closes there), so in-flight batches can still write. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(
      this.consumers.map((c) =>
        c.stop().catch((err: unknown) => this.log.error('consumer stop failed', { err })),
      ),
    );
    await withTimeout(this.producer.disconnect(), 10000, 'producer flush timed out').catch((err: unknown) =>
      this.log.error('producer disconnect failed', { err }),
    );
    await this.admin.disconnect().catch(() => undefined);
  }
}

async function retry<T>(
  fn: () => Promise<T>,
  attempts: number,
  onError: (err: unknown, attempt: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts) throw err;
      onError(err, attempt);
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 2000)));
    }
  }
}

import { RetryableError, type Delivered, type Sink } from './sink';
import type { SdkRun } from './types';

/** What the Kafka transport needs of a kafkajs producer (`kafka.producer({ idempotent: true })`, connected). */
export interface KafkaProducerLike {
  send(record: {
    topic: string;
    acks?: number;
    messages: { key: string; value: Buffer }[];
  }): Promise<unknown>;
}

/** What it needs of `@kafkajs/confluent-schema-registry`'s SchemaRegistry. */
export interface SchemaRegistryLike {
  getLatestSchemaId(subject: string): Promise<number>;
  encode(registryId: number, payload: unknown): Promise<Buffer>;
}

export interface KafkaTransportOptions {
  producer: KafkaProducerLike;
  registry: SchemaRegistryLike;
  /** The team the runs belong to: Kafka carries no API key, so the producer names it. */
  team: string;
  /** Default burnrate.runs.raw.v1. */
  topic?: string;
}

/**
 * Avro in the Confluent wire format straight onto burnrate.runs.raw.v1, keyed `<team>/<agent_id>`, acks=all. The
 * schema is the one burnrate registered under `<topic>-value` (latest version), fetched once: the SDK holds no copy.
 */
export class KafkaSink implements Sink {
  private readonly topic: string;
  private schemaId: Promise<number> | null = null;

  constructor(private readonly options: KafkaTransportOptions) {
    this.topic = options.topic ?? 'burnrate.runs.raw.v1';
  }

  async deliver(batch: SdkRun[]): Promise<Delivered> {
    let id: number;
    try {
      id = await (this.schemaId ??= this.options.registry.getLatestSchemaId(`${this.topic}-value`));
    } catch (err) {
      this.schemaId = null;
      throw new RetryableError(`schema registry: ${(err as Error).message}`);
    }
    const messages: { key: string; value: Buffer }[] = [];
    const failures: Delivered['failures'] = [];
    for (const run of batch) {
      const event = { ...run, team: this.options.team, quality_score: null, received_at: null };
      try {
        messages.push({
          key: `${this.options.team}/${run.agent_id}`,
          value: await this.options.registry.encode(id, event),
        });
      } catch (err) {
        failures.push({
          reason: 'rejected',
          status: null,
          message: `does not match the registered schema: ${(err as Error).message}`,
          runs: [{ run, errors: [] }],
        });
      }
    }
    if (messages.length > 0) {
      try {
        await this.options.producer.send({ topic: this.topic, acks: -1, messages });
      } catch (err) {
        throw new RetryableError(`kafka: ${(err as Error).message}`);
      }
    }
    return { sent: messages.length, failures };
  }
}
